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
