import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Kysely, RawBuilder } from 'kysely';

/**
 * Runs a statement as a named prepared statement on the pg pool, so PostgreSQL plans it once per
 * connection instead of on every request (planning a page query costs about as much as running
 * it). Only for statements of a bounded set of shapes (values are parameters): every shape stays
 * prepared on every connection. Outside any transaction: it takes a pooled connection (of a read
 * replica for `side` read, when one is configured).
 */
export async function runPrepared<R>(em: EntityManager, query: RawBuilder<R>, side: 'read' | 'write' = 'write'): Promise<R[]> {
  const compiled = query.compile(em.getKysely() as Kysely<any>);
  const pool = pools.get(em) ?? ((await em.getConnection(side).getNativeClient()) as Queryable);
  const name = `p_${createHash('sha1').update(compiled.sql).digest('hex').slice(0, 24)}`;
  return (await pool.query({ name, text: compiled.sql, values: compiled.parameters as unknown[] })).rows as R[];
}

export interface Queryable {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

const pools = new WeakMap<EntityManager, Queryable>();

/** Sends the prepared statements of this unit of work to another pool (a door with its own planner settings). */
export function preparedOn<T extends EntityManager>(em: T, pool: Queryable): T {
  pools.set(em, pool);
  return em;
}
