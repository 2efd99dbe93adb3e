import { REUSE_TTL_MS, setKey, type PageStart, type PageStarts } from '../../../src/db/page-starts.ts';
import { changeVersion, runPrepared } from '../../../src/db/prepared.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { RequestError } from './errors.ts';
import { joinJson, ServedJson } from '../../../src/http/served-json.ts';
import { parseFilter, type Clause } from './filter.ts';
import type { FilterField, Resource } from './resources.ts';

/**
 * A OneRoster collection or object request compiled to SQL: the endpoint's own predicates, the
 * caller's org scope and the client's `filter` (in parentheses of its own, so an OR in it cannot
 * reach past the other two), the sort, the page, the requested fields. Values are always bound
 * parameters; field names only ever come from the resource's allow-list.
 */

export interface Selection {
  resource: Resource;
  /** Predicates of the endpoint (`type = 'school'`, the class of a nested route, …). */
  where: RawBuilder<unknown>[];
  /** The ids the endpoint's rows are drawn from, when that set is much smaller than the table (Operation.within). */
  within?: RawBuilder<unknown>;
  /** The caller's org scope, already a predicate; none for an unrestricted client. */
  scope?: RawBuilder<unknown>;
  /** Absolute base URL for GUIDRef hrefs. */
  base: string;
  fields?: string[];
}

export interface ListQuery {
  filter?: string;
  sort?: string;
  orderBy?: 'asc' | 'desc';
  limit: number;
  offset: number;
}

/** JSON of a row (alias `t`) as text, with the given properties and hrefs under `base`. */
function jsonOf(resource: Resource, base: RawBuilder<unknown>, only?: Set<string>): RawBuilder<unknown> {
  const chosen = resource.properties(base).filter(([name]) => !only || only.has(name));
  // json, not jsonb: cheaper to build, and keys stay in the spec's order.
  return sql`json_strip_nulls(json_build_object(${sql.join(chosen.flatMap(([name, expr]) => [sql.lit(name), expr]))}))::text`;
}

/** The properties `fields` asks for (undefined: all), and the names it asks for that do not exist. */
function fieldsOf(sel: Selection): { only?: Set<string>; unknown: string[] } {
  if (!sel.fields?.length) return { unknown: [] };
  const names = new Set(sel.resource.properties(sql``).map(([name]) => name));
  const unknown = sel.fields.filter((f) => !names.has(f));
  const known = sel.fields.filter((f) => names.has(f));
  return { only: known.length ? new Set(known) : undefined, unknown };
}

/**
 * The served JSON of rows is kept in `oneroster_cache` by etag, with hrefs under a marker replaced by
 * the request's base on the way out. The marker holds control characters, which JSON text always
 * escapes, so the escaped form below stands for the marker and for nothing a roster would contain. A
 * changed row has a new etag and is rendered again. Orgs and sessions are not cached: their
 * `children` come from other rows.
 */
const MARK_TEXT = '\\u0001base\\u0001';
const cacheable = (resource: Resource) => resource.name !== 'org' && resource.name !== 'academicSession';

/**
 * The statement of a page's rows (`id` and `etag` in `p`, ordered by `p.n`). Cached resources come
 * back as ids and etags only, their JSON found by `jsonOfRows`; the others, and pages that ask for
 * some `fields`, are rendered by the statement itself.
 */
function pageJson(sel: Selection, ids: RawBuilder<unknown>) {
  const table = sql.table(sel.resource.table);
  const { only, unknown } = fieldsOf(sel);
  if (only || !cacheable(sel.resource)) {
    return { query: sql<Rendered>`select ${jsonOf(sel.resource, sql`${sel.base}::text`, only)} as j, t.sourced_id as id, null as etag
      from ${ids} p join ${table} t on t.sourced_id = p.id order by p.n`, unknown };
  }
  return { query: sql<Rendered>`select null::text as j, p.id, p.etag from ${ids} p order by p.n`, unknown };
}

/**
 * A page of more rows than this is a bulk reader walking the collection (a sync): its rows are not
 * read again soon, so they go into neither tier of the cache; storing them cost the server more than
 * rendering them again would (a district pulled by another gateway: 33.8 s with the cache filled,
 * 27.8 s without).
 */
const FILL_MAX_ROWS = 1000;

/** A row of a page: its JSON text when the statement rendered it, else its id and etag for the cache. */
type Rendered = { j: string | null; id: string; etag: string | null };
/** A row's JSON text as served, with the etag it was rendered at. */
type RowJson = { id: string; etag: string; j: string };

/**
 * The JSON of a page's rows, in page order: from memory (`ServedJson`), else from `oneroster_cache`,
 * else rendered now. Rendering is a statement of its own, for the missing ids only: PostgreSQL sets
 * the rendering expression up (three sub-plans) on every execution even when no row needs it,
 * which cost more than the rest of the page. A row rendered now is read as it is now (a write since
 * the page statement shows; a row gone since is left out). Also returns the rows rendered, for
 * `oneroster_cache`.
 */
async function jsonOfRows(em: EntityManager, sel: Selection, rows: Rendered[], memory: ServedJson) {
  const json = new Map<string, Buffer>();
  const keyOf = (id: string, etag: string) => ServedJson.key(sel.resource.name, sel.base, id, etag);
  let missing: Rendered[] = [];
  for (const r of rows) {
    const hit = r.j !== null ? Buffer.from(r.j) : memory.get(keyOf(r.id, r.etag!));
    if (hit) json.set(r.id, hit);
    else missing.push(r);
  }
  const fill = rows.length <= FILL_MAX_ROWS;
  const found = (r: RowJson) => {
    const bytes = Buffer.from(r.j);
    if (fill) memory.set(keyOf(r.id, r.etag), bytes);
    json.set(r.id, bytes);
  };
  if (missing.length) {
    // One lookup per id, whatever the plan: joined to the page, a generic plan hashed the whole cache.
    const stored = await runPrepared(em, sql<RowJson>`select c.sourced_id as id, c.etag,
        replace(c.json, ${MARK_TEXT}, ${sel.base}::text) as j
      from oneroster_cache c where c.resource = ${sel.resource.name} and c.sourced_id = any(${missing.map((r) => r.id)}::text[])`, 'read');
    const expected = new Map(missing.map((r) => [r.id, r.etag]));
    for (const r of stored) if (expected.get(r.id) === r.etag) found(r);
    missing = missing.filter((r) => !json.has(r.id));
  }
  let rendered: RowJson[] = [];
  if (missing.length) {
    rendered = await runPrepared(em, sql<RowJson>`select ${jsonOf(sel.resource, sql`${sel.base}::text`)} as j,
        t.sourced_id as id, t.etag
      from ${sql.table(sel.resource.table)} t where t.sourced_id = any(${missing.map((r) => r.id)}::text[])`, 'read');
    for (const r of rendered) found(r);
  }
  return { json: rows.flatMap((r) => json.get(r.id) ?? []), rendered: fill ? rendered : [] };
}

/** `{"key":[…]}` around rows' JSON, as one buffer. */
export const envelope = (key: string, items: Buffer[]) => joinJson(`{"${key}":[`, items, ']}');

/**
 * Puts the JSON a page rendered for rows that missed the cache into it, with the request's base in
 * hrefs turned back into the marker: rendering a row costs more than storing its text, so a row is
 * rendered once, not once for the answer and again for the cache. Done after the response; a
 * failure only costs a later render.
 */
async function fillCache(db: Kysely<any>, resource: Resource, rows: RowJson[], base: string) {
  const href = new RegExp(`("href" ?: ?")${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`, 'g');
  // One JSON parameter: pg's own array encoder is slow for thousands of long strings.
  const items = JSON.stringify(rows.map((r) => ({ id: r.id, etag: r.etag, json: r.j.replace(href, `$1${MARK_TEXT}/`) })));
  await sql`insert into oneroster_cache (resource, sourced_id, etag, json)
    select ${resource.name}, x.id, x.etag, x.json from json_to_recordset(${items}::json) as x(id text, etag text, json text)
    on conflict (resource, sourced_id) do update set etag = excluded.etag, json = excluded.json`.execute(db);
}

const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;
const dateOnly = /^\d{4}-\d{2}-\d{2}$/;
const like = (value: string) => `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function condition(clause: Clause, field: FilterField): RawBuilder<unknown> {
  const { op, value } = clause;
  const e = field.expr;
  const bad = (why: string) => new RequestError('invalid_filter_field', `filter on ${clause.field}: ${why}`);
  const compare = (v: RawBuilder<unknown>) => {
    switch (op) {
      case '=': return sql`${e} = ${v}`;
      case '!=': return sql`${e} is distinct from ${v}`;
      case '>': return sql`${e} > ${v}`;
      case '>=': return sql`${e} >= ${v}`;
      case '<': return sql`${e} < ${v}`;
      case '<=': return sql`${e} <= ${v}`;
      case '~': return sql`${e} ilike ${like(value)}`;
    }
  };
  switch (field.kind) {
    case 'datetime':
      if (op === '~') throw bad('~ (contains) does not apply to a date-time');
      if (!dateTime.test(value) || Number.isNaN(Date.parse(value))) throw bad(`${JSON.stringify(value)} is not a date-time such as 2024-09-01T00:00:00.000Z`);
      return compare(sql`${value}::timestamptz`);
    case 'date':
      if (op === '~') throw bad('~ (contains) does not apply to a date');
      if (!dateOnly.test(value) || Number.isNaN(Date.parse(value))) throw bad(`${JSON.stringify(value)} is not a date such as 2024-09-01`);
      return compare(sql`${value}::date`);
    case 'number':
      if (op === '~') throw bad('~ (contains) does not apply to a number');
      if (!/^-?\d+(\.\d+)?$/.test(value)) throw bad(`${JSON.stringify(value)} is not a number such as 42 or 87.5`);
      return compare(sql`${Number(value)}::float8`);
    case 'boolean':
      if (op !== '=' && op !== '!=') throw bad('only = and != apply to true/false');
      if (value !== 'true' && value !== 'false') throw bad('the value must be true or false');
      return compare(sql`${value === 'true'}::boolean`);
    case 'array':
      if (op === '=') return sql`${value}::text = any(${e})`;
      if (op === '!=') return sql`not coalesce(${value}::text = any(${e}), false)`;
      if (op === '~') return sql`exists (select 1 from unnest(${e}) as x(v) where x.v ilike ${like(value)})`;
      throw bad(`${op} does not apply to a list; use =, != or ~`);
    default:
      return compare(sql`${value}::text`);
  }
}

export function compileFilter(resource: Resource, text: string): RawBuilder<unknown> {
  const groups = parseFilter(text).map((clauses) =>
    sql.join(clauses.map((clause) => {
      const field = resource.fields[clause.field];
      if (!field) {
        throw new RequestError('invalid_filter_field', `unknown filter field '${clause.field}'; filterable: ${Object.keys(resource.fields).join(', ')}`);
      }
      const cond = condition(clause, field);
      return field.child ? sql`exists (${field.child} ${cond})` : cond;
    }), sql` and `),
  );
  return sql`(${sql.join(groups.map((g) => sql`(${g})`), sql` or `)})`;
}

function orderOf(resource: Resource, query: ListQuery): RawBuilder<unknown> {
  const direction = query.orderBy === 'desc' ? sql`desc` : sql`asc`;
  if (!query.sort) return sql`t.sourced_id ${direction}`;
  const field = resource.fields[query.sort];
  if (!field || field.child || field.kind === 'array') {
    throw new RequestError('invalid_selection_field', `cannot sort by '${query.sort}'; sortable: ${Object.entries(resource.fields).filter(([, f]) => !f.child && f.kind !== 'array').map(([n]) => n).join(', ')}`);
  }
  // sourcedId breaks ties, so pages never overlap or skip.
  return sql`${field.expr} ${direction} nulls last, t.sourced_id ${direction}`;
}

const whereOf = (sel: Selection, extra: RawBuilder<unknown>[] = []) => {
  const all = [...(sel.resource.visible ? [sel.resource.visible] : []), ...sel.where, ...(sel.scope ? [sel.scope] : []), ...extra];
  return all.length ? sql`where ${sql.join(all, sql` and `)}` : sql``;
};

/**
 * The two statements of a collection page: the rows (as JSON text) and the filtered total. With
 * `start` (default order only) the page is read from there instead of counting past `offset` rows.
 */
export function listQueries(sel: Selection, query: ListQuery, start?: PageStart) {
  const filter = query.filter ? [compileFilter(sel.resource, query.filter)] : [];
  const where = whereOf(sel, filter);
  const table = sel.within
    ? sql`(${sel.within}) d cross join lateral (select * from ${sql.table(sel.resource.table)} t where t.sourced_id = d.id)`
    : sql.table(sel.resource.table);
  const desc = query.orderBy === 'desc';
  const from = start === undefined ? [] : [
    desc ? (start.after ? sql`t.sourced_id < ${start.id}` : sql`t.sourced_id <= ${start.id}`) : start.after ? sql`t.sourced_id > ${start.id}` : sql`t.sourced_id >= ${start.id}`,
  ];
  const offset = start === undefined ? query.offset : 0;
  // The page's ids first, then JSON for those rows only: rows skipped by the offset are never rendered.
  const ids = sql`(select q.id, q.etag, row_number() over () as n from (
    select t.sourced_id as id, t.etag from ${table} t ${whereOf(sel, [...filter, ...from])} order by ${orderOf(sel.resource, query)} limit ${query.limit} offset ${offset}) q)`;
  const { query: page, unknown } = pageJson(sel, ids);
  return { page, total: sql<{ n: number }>`select count(*)::int as n from ${table} t ${where}`, unknownFields: unknown };
}

/**
 * Totals of recent queries. Counting a large collection costs more than rendering a page of it, and
 * clients page through the same query over and over; a total is reused while no write has taken a
 * change version since it was counted, and for a few seconds at most (a write still committing
 * has taken its version already, so the time bound catches it).
 */
const totals = new Map<string, { n: number; version: string; at: number }>();

/**
 * Counts under way, by set and change version: requests that find no reusable total while one is
 * being counted for the same version wait for it (what the cache above would give them a moment
 * later) instead of counting again; under load, a count that expired was started by every request.
 */
const counting = new Map<string, Promise<number>>();

async function totalOf(db: Kysely<any>, query: ReturnType<typeof listQueries>['total'], key: string, version: Promise<string>) {
  const [cached, now] = [totals.get(key), Date.now()];
  const v = await version;
  if (cached && cached.version === v && now - cached.at < REUSE_TTL_MS) return cached.n;
  const run = `${key}\u0000${v}`;
  let count = counting.get(run);
  if (!count) {
    count = query.execute(db).then((r) => r.rows[0]!.n);
    counting.set(run, count);
    count.then((n) => {
      if (totals.size >= 1000) totals.delete(totals.keys().next().value!);
      totals.set(key, { n, version: v, at: now });
    }, () => {}).finally(() => counting.delete(run));
  }
  return count;
}

/** What a door keeps between requests (served JSON, where pages begin), and where failures that do not fail the request go. */
export interface Served { memory: ServedJson; starts: PageStarts; onError?: (error: unknown) => void }

export async function listPage(em: EntityManager, sel: Selection, query: ListQuery, served: Served) {
  const db = em.getKysely({ type: 'read' }) as Kysely<any>;
  const version = changeVersion(em, 'read');
  const plain = listQueries(sel, query);
  // Pages of the default order may start from a known id (PageStarts).
  const ordered = !query.sort;
  // The set and its direction: offsets of an ascending page mean nothing for a descending one.
  const set = setKey(db, plain.total);
  const key = ordered ? `${set}\u0000${query.orderBy ?? 'asc'}` : '';
  const start = ordered && query.offset > 0 ? served.starts.find(key, await version, query.offset) : undefined;
  const { page, total, unknownFields } = start === undefined ? plain : listQueries(sel, query, start);
  const fixedShape = !query.filter && !sel.fields?.length;
  const pageRows = fixedShape ? runPrepared(em, page, 'read') : page.execute(db).then((r) => r.rows);
  const [listed, count] = await Promise.all([pageRows, totalOf(db, total, set, version)]);
  if (ordered && listed.length) {
    served.starts.remember(key, await version, { offset: query.offset, limit: query.limit, count: listed.length, first: listed[0]!.id, last: listed.at(-1)!.id, fromStart: start !== undefined });
  }
  const { json, rendered } = await jsonOfRows(em, sel, listed, served.memory);
  remember(em, sel, rendered, served.onError);
  return { items: json, count: json.length, total: count, unknownFields };
}

export async function getOne(em: EntityManager, sel: Selection, id: string, served: Served) {
  const table = sql.table(sel.resource.table);
  const db = em.getKysely({ type: 'read' }) as Kysely<any>;
  const ids = sql`(select t.sourced_id as id, t.etag, 1 as n from ${table} t ${whereOf(sel, [sql`t.sourced_id = ${id}`])})`;
  const { query, unknown } = pageJson(sel, ids);
  const { json, rendered } = await jsonOfRows(em, sel, sel.fields?.length ? (await query.execute(db)).rows : await runPrepared(em, query, 'read'), served.memory);
  remember(em, sel, rendered, served.onError);
  return { item: json[0], unknownFields: unknown };
}

/** Rendered JSON the page had to build goes into the cache, on the primary (a replica is read-only). */
function remember(em: EntityManager, sel: Selection, rendered: RowJson[], onError?: (error: unknown) => void) {
  if (rendered.length) fillCache(em.getKysely() as Kysely<any>, sel.resource, rendered, sel.base).catch((error: unknown) => onError?.(error));
}
