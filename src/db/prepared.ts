import { createHash } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * Runs a statement as a named prepared statement on the pg pool, so PostgreSQL plans it once per
 * connection instead of on every request (planning a page query costs about as much as running
 * it). Only for statements of a bounded set of shapes (values are parameters): every shape stays
 * prepared on every connection. Outside any transaction: it takes a pooled connection (of a read
 * replica for `side` read, when one is configured).
 */
export async function runPrepared<R>(em: EntityManager, query: RawBuilder<R>, side: 'read' | 'write' = 'write'): Promise<R[]> {
  const compiled = query.compile(em.getKysely() as Kysely<any>);
  const pool = await poolOf(em, side);
  return (await pool.query({ name: nameOf(compiled.sql), text: compiled.sql, values: compiled.parameters as unknown[] })).rows as R[];
}

/**
 * Runs a prepared lookup whose rows may come in any order (a record by key), sharing round trips
 * with concurrent lookups of the same shape: while a statement of that shape runs, the lookups that
 * arrive wait, and the next statement carries them all — the statement joined laterally to the
 * rows of their parameters (`batchOf`), one shape however many it carries, so PostgreSQL plans it
 * once per connection. Under 20 Ed-Fi writers that is several lookups a statement: a statement's
 * cost to PostgreSQL and to the gateway is mostly the round trip (waking the backend, protocol, the
 * socket write), not the index probe. A lone lookup goes at once. Inside a transaction, each runs
 * on its own.
 */
export async function runLookup<R>(em: EntityManager, query: RawBuilder<R>): Promise<R[]> {
  if (em.isInTransaction()) return (await query.execute(em.getKysely())).rows;
  const compiled = query.compile(em.getKysely() as Kysely<any>);
  const pool = await poolOf(em, 'write');
  let shapes = lookups.get(pool);
  if (!shapes) lookups.set(pool, (shapes = new Map()));
  let shape = shapes.get(compiled.sql);
  if (!shape) shapes.set(compiled.sql, (shape = { text: compiled.sql, name: nameOf(compiled.sql), waiting: [], underWay: false }));
  const s = shape;
  return new Promise<R[]>((resolve, reject) => {
    s.waiting.push({ values: compiled.parameters as unknown[], resolve: resolve as (rows: unknown[]) => void, reject });
    pumpLookups(pool, s);
  });
}

const LOOKUPS_PER_STATEMENT = 32;

interface Lookup { values: unknown[]; resolve(rows: unknown[]): void; reject(error: unknown): void }
interface LookupShape { text: string; name: string; batch?: { text: string; name: string }; waiting: Lookup[]; underWay: boolean }
const lookups = new WeakMap<Queryable, Map<string, LookupShape>>();

function pumpLookups(pool: Queryable, shape: LookupShape) {
  if (shape.underWay || !shape.waiting.length) return;
  const batch = shape.waiting.splice(0, LOOKUPS_PER_STATEMENT);
  shape.underWay = true;
  void sendLookups(pool, shape, batch).finally(() => {
    shape.underWay = false;
    pumpLookups(pool, shape);
  });
}

async function sendLookups(pool: Queryable, shape: LookupShape, batch: Lookup[]) {
  const one = (l: Lookup) => pool.query({ name: shape.name, text: shape.text, values: l.values }).then((r) => l.resolve(r.rows), l.reject);
  const columns = batch.length > 1 && batch[0]!.values.length > 0 ? columnsOf(batch) : undefined;
  if (!columns) return Promise.all(batch.map(one));
  try {
    const { rows } = await pool.query({ ...(shape.batch ??= batchOf(shape.text, columns.length)), values: columns });
    const each: unknown[][] = batch.map(() => []);
    for (const row of rows as { __lookup: string }[]) {
      const { __lookup: at, ...rest } = row;
      each[Number(at) - 1]!.push(rest);
    }
    batch.forEach((l, i) => l.resolve(each[i]!));
  } catch {
    // One bad lookup (a value its cast refuses) fails only itself.
    await Promise.all(batch.map(one));
  }
}

/** A parameter `$n`, or a quoted literal or identifier (skipped whole: a `$1` in it is text, not a parameter). */
const parameters = /'(?:[^']|'')*'|"(?:[^"]|"")*"|\$(\d+)/g;

/**
 * The statement run once for each row of its parameters' arrays (`$1::text[]`, … with ordinality):
 * each `$n` becomes that row's text, which the statement's own casts (`$n::bigint`) or the column
 * it is compared with read as they would the parameter.
 */
function batchOf(text: string, arity: number) {
  const params = Array.from({ length: arity }, (_, i) => `$${i + 1}::text[]`).join(', ');
  const names = Array.from({ length: arity }, (_, i) => `p${i + 1}`).join(', ');
  const batch = `select b.__lookup, x.* from unnest(${params}) with ordinality as b(${names}, __lookup)
    cross join lateral (${text.replace(parameters, (quoted, n?: string) => (n === undefined ? quoted : `b.p${n}`))}) x`;
  return { text: batch, name: nameOf(batch) };
}

/** The lookups' values as one text array per parameter, as pg sends values; undefined if one is of a kind a lookup does not use. */
function columnsOf(batch: Lookup[]): (string | null)[][] | undefined {
  const columns = batch[0]!.values.map(() => [] as (string | null)[]);
  for (const { values } of batch) {
    for (let i = 0; i < values.length; i++) {
      const text = asText(values[i]);
      if (text === false) return undefined;
      columns[i]!.push(text);
    }
  }
  return columns;
}

function asText(value: unknown): string | null | false {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const items = value.map(asText);
    if (items.some((i) => i === false)) return false;
    return `{${items.map((i) => (i === null ? 'NULL' : `"${(i as string).replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;
  }
  return false;
}

const poolOf = async (em: EntityManager, side: 'read' | 'write') => pools.get(em) ?? ((await em.getConnection(side).getNativeClient()) as Queryable);

const names = new Map<string, string>();
function nameOf(text: string) {
  let name = names.get(text);
  if (!name) names.set(text, (name = `p_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`));
  return name;
}

/**
 * Runs a prepared statement without parameters whose answer callers may share (the change
 * sequence's current value): callers that ask while a read of it is under way share the next
 * read, sent after all of them asked, so none gets an answer from before its request. Under
 * load that is one statement per round trip instead of one per request.
 */
export async function runShared<R>(em: EntityManager, query: RawBuilder<R>, side: 'read' | 'write' = 'write'): Promise<R[]> {
  const text = query.compile(em.getKysely() as Kysely<any>).sql;
  const pool = await poolOf(em, side);
  let reads = shared.get(pool);
  if (!reads) shared.set(pool, (reads = new Map()));
  const read = reads.get(text) ?? { next: undefined, running: Promise.resolve() };
  reads.set(text, read);
  if (read.next) return read.next as Promise<R[]>;
  const next = read.running.then(() => {
    read.next = undefined;
    return pool.query({ name: nameOf(text), text, values: [] }).then((r) => r.rows as R[]);
  });
  read.next = next;
  read.running = next.catch(() => undefined);
  return next;
}

/** The change sequence's current value, as the reuse rules of totals and page starts compare it (runShared). */
export const changeVersion = async (em: EntityManager, side: 'read' | 'write' = 'write') =>
  (await runShared(em, sql<{ v: string }>`select last_value::text as v from change_version_seq`, side))[0]!.v;

const shared = new WeakMap<Queryable, Map<string, { next: Promise<unknown[]> | undefined; running: Promise<unknown> }>>();

export interface Queryable {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

const pools = new WeakMap<EntityManager, Queryable>();

/** The pool a unit of work's prepared statements go to, when it is not the ORM's own. */
export const preparedPoolOf = (em: EntityManager): Queryable | undefined => pools.get(em);

/** Sends the prepared statements of this unit of work to another pool (a door with its own planner settings). */
export function preparedOn<T extends EntityManager>(em: T, pool: Queryable): T {
  pools.set(em, pool);
  return em;
}

/**
 * Units of work whose prepared statements run on a pool of their own, opened on first use, whose
 * sessions keep generic plans. With the default plan cache mode PostgreSQL re-plans a statement
 * with parameters at every bind until it trusts a generic plan, and a page statement's `LIMIT $n`
 * makes the generic plan look costlier than it is, so it never does: planning (0.3–0.9 ms) cost as
 * much as running the page. Measured on the district for every OneRoster collection route, generic
 * plans ran as fast or faster except for class lists of a term (1.5 → 2.5 ms), and one custom plan
 * was pathological (a school's enrollments, 216 ms → 3 ms). Idle connections close; the pool never
 * holds the process. `read` uses the read replica when one is configured.
 */
export function genericPlans(orm: MikroORM, side: 'read' | 'write', hooks: { onPool?: (pool: pg.Pool) => void; onError?: (error: unknown) => void } = {}) {
  let pool: pg.Pool | undefined;
  return () => {
    if (!pool) {
      const replica = side === 'read' ? orm.config.get('replicas')?.[0]?.clientUrl : undefined;
      pool = new pg.Pool({
        connectionString: replica ?? orm.config.get('clientUrl'), max: 10, idleTimeoutMillis: 10_000, allowExitOnIdle: true,
        options: '-c plan_cache_mode=force_generic_plan',
      });
      // Errors here are idle connections ending (the pool drops them); one the server ends because it is
      // shutting down (57P01, the embedded database stopping after the gateway) is expected, not a failure.
      pool.on('error', (error) => {
        if ((error as { code?: string }).code !== '57P01') hooks.onError?.(error);
      });
      hooks.onPool?.(pool);
    }
    return preparedOn(orm.em.fork(), pool);
  };
}
