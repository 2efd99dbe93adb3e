import { RequestError } from './errors.ts';

/**
 * The OneRoster `filter` grammar (reference §1.5): `field op 'value'` clauses joined by ` AND ` or
 * ` OR `. Values are single-quoted (`''` is a quote) and may hold spaces and operators; fields may be
 * dotted (`roles.role`, `class.sourcedId`). AND binds tighter than OR; at most 20 clauses.
 */

export type Operator = '=' | '!=' | '>' | '>=' | '<' | '<=' | '~';

export interface Clause {
  field: string;
  op: Operator;
  value: string;
}

/** Clauses ORed together, each group ANDed: `a AND b OR c` is `[[a, b], [c]]`. */
export type Filter = Clause[][];

const MAX_CLAUSES = 20;
const MAX_VALUE = 1000;
const clausePattern = /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*(!=|>=|<=|=|>|<|~)\s*'((?:''|[^'])*)'/;

export function parseFilter(text: string): Filter {
  const groups: Filter = [[]];
  let rest = text;
  let count = 0;
  for (;;) {
    const m = clausePattern.exec(rest);
    if (!m) throw new RequestError('invalid_filter_field', `filter is not valid at ${JSON.stringify(rest.slice(0, 40))}: expected field, operator (= != > >= < <= ~) and a 'quoted value'`);
    const value = m[3]!.replace(/''/g, "'");
    if (value.length > MAX_VALUE) throw new RequestError('invalid_filter_field', `filter values may be at most ${MAX_VALUE} characters`);
    if (++count > MAX_CLAUSES) throw new RequestError('invalid_filter_field', `filter may have at most ${MAX_CLAUSES} clauses`);
    groups.at(-1)!.push({ field: m[1]!, op: m[2] as Operator, value });
    rest = rest.slice(m[0].length);
    if (rest.trim() === '') return groups;
    const logical = /^\s+(AND|OR)\s+/.exec(rest);
    if (!logical) throw new RequestError('invalid_filter_field', `filter clauses must be joined by ' AND ' or ' OR '; found ${JSON.stringify(rest.slice(0, 20))}`);
    if (logical[1] === 'OR') groups.push([]);
    rest = rest.slice(logical[0].length);
  }
}
