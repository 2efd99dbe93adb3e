import { sql, type RawBuilder } from 'kysely';
import { servedSpec } from './openapi.ts';
import { ProblemError, problems } from './problems.ts';
import { dashed } from './canonical.ts';
import type { EdfiResource } from './resources.ts';
import type { ParamType, View } from './views.ts';

/**
 * Ed-Fi GET collections as SQL: paging (offset/limit, cursor tokens), change-version windows and
 * query by example, parsed from the URL into bound conditions over a resource's view, and the page
 * and total queries built from them.
 */

const MAX_LIMIT = 500;

/** An item's Ed-Fi metadata (`id`, `_etag`, `_lastModifiedDate`) from a view row, to merge into its `doc`. */
export const stamp = (alias: string) =>
  sql.raw(`jsonb_build_object('id', ${alias}.id, '_etag', ${alias}.etag, '_lastModifiedDate', to_char(${alias}.lm at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`);

/** A typed, bound comparison of one view column. */
export function compare(column: string, type: ParamType, value: unknown): RawBuilder<unknown> {
  const ref = sql.ref(`v.${column}`);
  switch (type) {
    case 'integer': return sql`${ref} = ${String(value)}::bigint`;
    case 'date': return sql`${ref} = ${String(value)}::date`;
    case 'boolean': return sql`${ref} = ${String(value)}::boolean`;
    default: return sql`${ref} = ${String(value)}`;
  }
}

function parseValue(type: ParamType, raw: string): string | undefined {
  switch (type) {
    case 'integer': return /^-?\d{1,18}$/.test(raw) ? raw : undefined;
    case 'date': return /^\d{4}-\d{2}-\d{2}$/.test(raw) && !Number.isNaN(Date.parse(raw)) ? raw : undefined;
    case 'boolean': return /^(true|false)$/i.test(raw) ? raw.toLowerCase() : undefined;
    default: return raw;
  }
}

export const label = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);


/** `cfa3fea8edf44c50b95e1808e616460a` (ODS/API) and dashed UUIDs alike. */
export function normaliseId(raw: string): string | undefined {
  const hex = raw.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex) || (raw.includes('-') && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(raw))) return undefined;
  return dashed(hex);
}



export interface ListQuery {
  limit: number;
  offset: number;
  totalCount: boolean;
  where: RawBuilder<unknown>[];
  /** Query by example (not just paging and a change-version window). */
  byExample: boolean;
  /** Cursor paging: the page starts after this `seq` (from a Next-Page-Token; none: from the start). */
  after?: string;
  /** Offset paging from a remembered start (PageStarts): the page starts at this `seq`. */
  startAt?: string;
  /** Cursor paging within a partition: the last `seq` it holds. */
  upTo?: string;
  cursor: boolean;
}

/**
 * Next-Page-Token and partition tokens, opaque to the client: the `seq` the page starts after (null:
 * the start) and, for a partition (GET …/partitions), the last `seq` it holds.
 */
export const pageToken = (after: string | null, upTo?: string) => Buffer.from(JSON.stringify(upTo === undefined ? [after] : [after, upTo])).toString('base64url');
const SEQ = /^[0-9a-f-]{1,36}$/;
function tokenOf(token: string): { after?: string; upTo?: string } | undefined {
  try {
    const [after, upTo, ...rest] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    const ok = (v: unknown) => v === undefined || (typeof v === 'string' && SEQ.test(v));
    if (rest.length || !(after === null || ok(after)) || !ok(upTo) || (after === null && upTo === undefined)) return undefined;
    return { after: (after ?? undefined) as string | undefined, upTo: upTo as string | undefined };
  } catch {
    return undefined;
  }
}

type Param = readonly [name: string, type: ParamType | 'number', column: boolean];

/**
 * The query-by-example parameters of a resource: every one its official GET operation lists (those
 * the view has as a column compare the column, indexed; the others compare the served item), plus `id`.
 */
const paramsCache = new Map<string, Map<string, Param>>();
export function paramsOf(resource: EdfiResource | undefined, view: View): Map<string, Param> {
  const key = resource?.name ?? '';
  let known = paramsCache.get(key);
  if (!known) {
    known = new Map();
    const listed = (servedSpec().paths[`/ed-fi/${resource?.name}`]?.get?.parameters ?? []) as { name?: string; in?: string; schema?: { type?: string; format?: string } }[];
    for (const p of listed) {
      if (!p.name || p.in !== 'query' || !/^[a-zA-Z]+$/.test(p.name)) continue;
      const t = p.schema?.type;
      const type: ParamType | 'number' = t === 'integer' ? 'integer' : t === 'boolean' ? 'boolean' : t === 'number' ? 'number' : p.schema?.format === 'date' ? 'date' : 'string';
      known.set(p.name.toLowerCase(), [p.name, type, false]);
    }
    for (const [name, type] of Object.entries(view.params)) known.set(name.toLowerCase(), [name, type, true]);
    known.set('id', ['id', 'string', true]);
    paramsCache.set(key, known);
  }
  return known;
}

/** A parameter the view has no column for: the item's property of that name, at the top or inside a reference. */
function compareInItem(name: string, type: ParamType | 'number', value: string): RawBuilder<unknown> {
  const typed = type === 'integer' ? sql`${value}::bigint` : type === 'number' ? sql`${value}::numeric` : type === 'boolean' ? sql`${value}::boolean` : sql`${value}::text`;
  return sql`jsonb_path_exists(v.doc, ${`$.** ? (@."${name}" == $v)`}::jsonpath, jsonb_build_object('v', ${typed}))`;
}

/** Paging, change-version window and query-by-example parameters; names are case-insensitive. */
export function listQuery(url: URL, known: Map<string, Param> = new Map()): ListQuery {
  const errors: Record<string, string[]> = {};
  const messages: string[] = [];
  const q: ListQuery = { limit: 25, offset: 0, totalCount: false, where: [], byExample: false, cursor: false };
  const given = new Set<string>();
  for (const [rawName, raw] of url.searchParams) {
    const name = rawName.toLowerCase();
    given.add(name);
    if (name === 'limit' || name === 'offset') {
      const n = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (name === 'limit' && !(n >= 0 && n <= MAX_LIMIT)) messages.push(`Limit must be a value between 0 and ${MAX_LIMIT}.`);
      else if (name === 'offset' && !(n >= 0)) messages.push('Offset must be a whole number of at least 0.');
      else q[name] = n;
    } else if (name === 'totalcount') {
      if (!/^(true|false)$/i.test(raw)) messages.push("TotalCount must be 'true' or 'false'.");
      q.totalCount = raw.toLowerCase() === 'true';
    } else if (name === 'minchangeversion' || name === 'maxchangeversion') {
      if (!/^\d{1,18}$/.test(raw)) errors[`$.${name === 'minchangeversion' ? 'minChangeVersion' : 'maxChangeVersion'}`] = [`The value '${raw}' is not valid.`];
      else q.where.push(name === 'minchangeversion' ? sql`v.cv >= ${raw}::bigint` : sql`v.cv <= ${raw}::bigint`);
    } else if (name === 'correlationid') {
      continue;
    } else if (name === 'pagesize') {
      const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(n >= 1 && n <= MAX_LIMIT)) messages.push(`PageSize must be a value between 1 and ${MAX_LIMIT}.`);
      else q.limit = n;
      q.cursor = true;
    } else if (name === 'pagetoken') {
      const token = tokenOf(raw);
      if (!token) messages.push('The pageToken is not valid; use the Next-Page-Token of a previous response.');
      else Object.assign(q, token);
      q.cursor = true;
    } else {
      const found = known.get(name);
      if (!found) {
        messages.push(`The request parameter '${rawName}' is not a property of this resource.`);
        continue;
      }
      const [column, type, isColumn] = found;
      q.byExample = true;
      if (column === 'id') {
        const id = normaliseId(raw);
        if (!id) errors['$.id'] = [`The value '${raw}' is not valid for Id.`];
        else q.where.push(sql`v.id = ${id}::uuid`);
        continue;
      }
      const value = type === 'number' ? (/^-?\d+(\.\d+)?$/.test(raw) ? raw : undefined) : parseValue(type, raw);
      if (value === undefined) errors[`$.${column}`] = [`The value '${raw}' is not valid for ${label(column)}.`];
      else q.where.push(isColumn ? compare(column, type as ParamType, value) : compareInItem(column, type, value));
    }
  }
  if (given.has('pagetoken') && (given.has('limit') || given.has('offset'))) messages.push('pageToken cannot be combined with limit or offset.');
  if (given.has('pagetoken') && q.totalCount) messages.push('totalCount cannot be combined with pageToken.');
  if (messages.length || Object.keys(errors).length) throw new ProblemError(problems.parameters(errors, ...messages));
  return q;
}

const totalOf = (view: View, condition: RawBuilder<unknown>) => sql<{ n: string }>`select count(*) as n from (${view.from}) v where ${condition}`;

/**
 * A page's rows in `order`, with only `columns` (named): each part of the view (View.pages) walked
 * in order on its own and the walks merged, so nothing is built for a row the page skips.
 */
function pageWalk(q: ListQuery, view: View, condition: RawBuilder<unknown>, order: RawBuilder<unknown>, columns: Record<string, RawBuilder<unknown>>) {
  const after = sql.join([
    q.after === undefined ? sql`true` : sql`v.seq > ${q.after}`,
    ...(q.startAt === undefined ? [] : [sql`v.seq >= ${q.startAt}`]),
    ...(q.upTo === undefined ? [] : [sql`v.seq <= ${q.upTo}`]),
  ], sql` and `);
  const select = sql.join(Object.entries(columns).map(([name, column]) => sql`${column} as ${sql.ref(name)}`));
  const parts = partsOf(q, view);
  if (parts.length === 1) {
    return sql`select ${select} from (${parts[0]}) v where ${condition} and ${after} order by ${order} limit ${q.limit} offset ${q.offset}`;
  }
  // Each part's first rows in order, then the page among them.
  const walks = parts.map((part) => sql`(select ${select}, ${order} as o from (${part}) v where ${condition} and ${after}
    order by ${order} limit ${q.limit + q.offset})`);
  return sql`select ${sql.join(Object.keys(columns).map((name) => sql.ref(`w.${name}`)))} from (${sql.join(walks, sql` union all `)}) w
    order by w.o limit ${q.limit} offset ${q.offset}`;
}

/** The page's keys, in order, as an array. */
const pageKeys = (q: ListQuery, view: View, condition: RawBuilder<unknown>, order: RawBuilder<unknown>, key: RawBuilder<unknown>) =>
  sql`array(${pageWalk(q, view, condition, order, { k: key })})`;

/** The view's rows as a query by example reads them, or as parts to walk (View.pages). */
const partsOf = (q: ListQuery, view: View) => (q.byExample || !view.pages ? [view.from] : view.pages);

/**
 * One page as a JSON array: the page's keys first, then the items of those keys alone; and the
 * total. `order` is the page's stable order; `key` picks its rows again (unique, indexed: each
 * view's `seq`).
 */
export function pageQueries(q: ListQuery, view: View, item: RawBuilder<unknown>, where: RawBuilder<unknown>[], order: RawBuilder<unknown>, key: RawBuilder<unknown>) {
  const condition = where.length ? sql.join(where, sql` and `) : sql`true`;
  return {
    page: sql<{ items: string; n: number; first: string | null; last: string | null }>`select coalesce(json_agg(p.item order by p.o), '[]')::text as items,
        count(*)::int as n, (array_agg(p.seq::text order by p.o))[1] as first, (array_agg(p.seq::text order by p.o desc))[1] as last from (
      select ${item} as item, ${order} as o, v.seq from (${view.from}) v
      where ${key} = any(${pageKeys(q, view, condition, order, key)})
        and ${condition}) p`,
    total: totalOf(view, condition),
  };
}

const resourceWhere = (q: ListQuery, scope?: RawBuilder<unknown>) => sql.join([sql`v.status = 'active'`, ...q.where, ...(scope ? [scope] : [])], sql` and `);

/**
 * A resource collection page in two steps, for a door that keeps items by etag: the page's rows
 * (key, id, etag, in order), then the items of the keys it does not hold yet; and the total.
 */
export function itemQueries(resource: EdfiResource, q: ListQuery, scope?: RawBuilder<unknown>) {
  const view = resource.view;
  const condition = resourceWhere(q, scope);
  return {
    // In one walk: every part of a view carries id and etag (View.pages).
    rows: sql<{ seq: string; id: string; etag: string }>`${pageWalk(q, view, condition, sql`v.seq`, { seq: sql`v.seq::text`, id: sql`v.id::text`, etag: sql`v.etag` })}`,
    items: (keys: string[]) => sql<{ id: string; etag: string; item: string }>`select v.id::text as id, v.etag, (v.doc || ${stamp('v')})::text as item
      from (${view.from}) v where v.seq = any(${keys}) and ${condition}`,
    total: totalOf(view, condition),
  };
}

/** Fewest items a partition holds (ODS/API: a multiple of the largest page), so small collections are not cut up. */
const PARTITION_MIN = MAX_LIMIT;
export const MAX_PARTITIONS = 100;

/**
 * GET …/partitions?number=N (ODS/API 7.3, DMS): up to N ranges of a collection's `seq` order,
 * each of at least PARTITION_MIN items (as the filters select them), for readers that page through
 * them in parallel; answered as the tokens that start each range.
 */
export function partitionQuery(resource: EdfiResource, url: URL, scope: RawBuilder<unknown> | undefined, n: number) {
  const q = listQuery(url, paramsOf(resource, resource.view));
  if (q.cursor || q.offset || q.totalCount || url.searchParams.has('limit')) {
    throw new ProblemError(problems.parameters({}, 'Partitions take number and the collection\'s filters only.'));
  }
  const where = resourceWhere(q, scope);
  const rows = partsOf(q, resource.view).map((part) => sql`select v.seq from (${part}) v where ${where}`);
  return sql<{ up_to: string }>`with rows as (${sql.join(rows, sql` union all `)}),
      k as (select least(${n}::int, greatest(1, ceil(count(*)::numeric / ${PARTITION_MIN})))::int as k from rows)
    select (array_agg(x.seq order by x.seq desc))[1]::text as up_to from (select seq, ntile((select k from k)) over (order by seq) as part from rows) x
    group by x.part order by x.part`;
}

/** A collection page of a resource built by one statement, items and all (for walkers of a whole collection, which keep nothing). */
export const resourcePage = (resource: EdfiResource, q: ListQuery, scope?: RawBuilder<unknown>) =>
  pageQueries(q, resource.view, sql`v.doc || ${stamp('v')}`, [resourceWhere(q, scope)], sql`v.seq`, sql`v.seq`);

/** resourcePage for a request URL (the benchmark's bare baseline runs it for every page). */
export function collectionQueries(resource: EdfiResource, url: URL, scope?: RawBuilder<unknown>) {
  const q = listQuery(url, paramsOf(resource, resource.view));
  return { q, ...resourcePage(resource, q, scope) };
}
