import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { RunSummary } from './reconcile.ts';

/**
 * A manual run asked for while its source is running (in this process or another) waits as a
 * `queued` run instead of being refused. Whichever process next takes the source's lock starts it:
 * the scheduler looks for queued runs at every poll and when one of its own runs ends (syncSource
 * with the queued run's id). A source has at most one queued run; asking again answers with it.
 */

/** The source's queued run, added if it has none. */
export async function queueRun(orm: MikroORM, sourceId: number, trigger: string): Promise<number> {
  const db = orm.em.fork().getKysely();
  for (;;) {
    const { rows } = await sql<{ id: number }>`with added as (
        insert into sync_run (source_id, mode, status, trigger) values (${sourceId}, 'bulk', 'queued', ${trigger})
        on conflict (source_id) where status = 'queued' do nothing returning id)
      select id::int as id from added union all select id::int from sync_run where source_id = ${sourceId} and status = 'queued' limit 1`.execute(db);
    // Empty only when another request queued one in the same instant, not yet visible to this statement.
    if (rows[0]) return rows[0].id;
  }
}

/** Queued runs, oldest first. */
export async function queuedRuns(orm: MikroORM): Promise<{ id: number; sourceId: number; trigger: string }[]> {
  const { rows } = await sql<{ id: number; sourceId: number; trigger: string }>`select id::int as id, source_id::int as "sourceId", trigger
    from sync_run where status = 'queued' order by id`.execute(orm.em.fork().getKysely());
  return rows;
}

/** Whether the run still waits (under the source's lock: no other process can start it meanwhile). */
export async function stillQueued(orm: MikroORM, runId: number): Promise<boolean> {
  const { rows } = await sql`select 1 from sync_run where id = ${runId} and status = 'queued'`.execute(orm.em.fork().getKysely());
  return rows.length > 0;
}

/** A queued run whose connector had nothing to do: it ran, and found nothing. */
export async function closeIdleRun(orm: MikroORM, runId: number): Promise<RunSummary> {
  await sql`update sync_run set status = 'succeeded', complete = true, counts = '{}'::jsonb, started_at = now(), finished_at = now()
    where id = ${runId}`.execute(orm.em.fork().getKysely());
  return { runId, status: 'succeeded', complete: true, counts: {}, issues: 0 };
}
