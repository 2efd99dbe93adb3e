import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { entitySpecs } from './entities.ts';
import type { EntityCounts } from './reconcile.ts';

/**
 * A run whose whole input is what the source's last applied run read (a CSV package uploaded
 * again, byte for byte) has nothing to do, provided the source's rows are still as that run left
 * them: then reading, checking and comparing every record could only conclude "unchanged". The
 * rows' state is a count and a checksum of (sourcedId, content hash, status) per table over the
 * source's rows, taken inside the applying transaction and again before a run with the same input;
 * an edit through an API door, a tombstone, a purge — any change to those rows — changes it, and
 * the run goes the whole way (restoring what the source says).
 */

/** The source's rows per table: how many, and a 64-bit XOR of each row's hash (one pass, no order). */
export async function sourceState(em: EntityManager, sourceId: number): Promise<string> {
  const parts = entitySpecs.map((spec) => sql`select ${spec.table}::text as t, count(*)::text as n,
      coalesce(bit_xor(hashtextextended(sourced_id || ' ' || content_hash || ' ' || status, 0)), 0)::text as x
    from ${sql.table(spec.table)} where source_id = ${sourceId}`);
  const { rows } = await sql<{ t: string; n: string; x: string }>`${sql.join(parts, sql` union all `)}`.execute(em.getKysely());
  return rows.map((r) => `${r.t}:${r.n}:${r.x}`).join(' ');
}

export interface Repeat {
  runId: number;
  /** Every record the earlier run saw, now unchanged. */
  counts: Record<string, EntityCounts>;
  endState: string;
}

/**
 * The source's last applied run, if it read `input`, left no issue (a repeat would have to
 * report them again) and the source's rows are still as it left them.
 */
export async function repeatOf(em: EntityManager, sourceId: number, input: string): Promise<Repeat | undefined> {
  const { rows } = await sql<{ id: number; input: string | null; end_state: string | null; counts: Record<string, EntityCounts> | null; issues: boolean }>`
    select r.id::int as id, r.input, r.end_state, r.counts, exists (select 1 from sync_issue i where i.run_id = r.id) as issues
    from sync_run r where r.source_id = ${sourceId} and r.status in ('succeeded', 'partial')
    order by r.id desc limit 1`.execute(em.getKysely());
  const last = rows[0];
  if (!last || last.input !== input || !last.end_state || last.issues) return undefined;
  if ((await sourceState(em, sourceId)) !== last.end_state) return undefined;
  const counts = Object.fromEntries(Object.entries(last.counts ?? {}).map(([entity, c]) => [entity, {
    created: 0, updated: 0, unchanged: c.created + c.updated + c.unchanged, tombstoned: 0, rejected: 0,
  }]));
  return { runId: last.id, counts, endState: last.end_state };
}
