import { sql } from 'kysely';
import cron, { type ScheduledTask } from 'node-cron';
import { RunConnection } from '../sync/copy.ts';
import { purgeAudit } from '../audit.ts';
import { purgeTombstones } from '../sync/purge.ts';
import { purgeRuns } from '../sync/runs.ts';
import { dropStageTables } from '../sync/stage.ts';
import { SourceBusyError } from '../sync/reconcile.ts';
import { queuedRuns } from '../sync/queue.ts';
import { syncSource, type SourceDeps } from '../sync/sources.ts';

/**
 * Runs every enabled, scheduled source on its cron schedule. Each gateway process schedules every
 * source; reconcile's per-source advisory lock lets only one of them run it, the others skip that
 * tick (and a tick that comes while this process still runs the source is skipped too). Sources
 * changed through any process are picked up by a poll. Runs left `running` by a process that died
 * are closed as failed by any live process at its next poll; the same process purges what is past
 * its retention window (runs, audit entries, tombstones) hourly.
 */
export class Scheduler {
  readonly #deps: SourceDeps;
  readonly #tasks = new Map<number, { task: ScheduledTask; key: string }>();
  readonly #running = new Map<number, Promise<unknown>>();
  readonly #abort = new AbortController();
  #poll?: NodeJS.Timeout;

  constructor(deps: SourceDeps) {
    this.#deps = deps;
  }

  async start(pollSeconds = 30) {
    await sweepOrphanedRuns(this.#deps);
    await this.#purge();
    await this.reload();
    let polls = 0;
    void this.startQueued();
    this.#poll = setInterval(() => {
      this.reload().catch((error: unknown) => this.#deps.logger.error('scheduler reload failed', { error }));
      void this.startQueued();
      // A process that died mid-run is noticed by the others, not only at their next start.
      sweepOrphanedRuns(this.#deps).catch((error: unknown) => this.#deps.logger.error('orphaned run sweep failed', { error }));
      // Old runs go about once an hour.
      if (++polls % Math.max(1, Math.round(3600 / pollSeconds)) === 0) void this.#purge();
    }, pollSeconds * 1000);
    this.#poll.unref();
  }

  /** Old runs, audit entries and tombstones go, each after its retention window. */
  async #purge() {
    const { orm, config, logger } = this.#deps;
    try {
      const runs = await purgeRuns(orm, config.RUN_RETENTION_DAYS);
      const audit = await purgeAudit(orm, config.AUDIT_RETENTION_DAYS);
      const tombstones = await purgeTombstones(orm, config.TOMBSTONE_RETENTION_DAYS);
      const rows = Object.values(tombstones).reduce((n, x) => n + x, 0);
      if (runs || audit || rows) logger.info('retention purge', { runs, auditEntries: audit, tombstones: rows, days: { runs: config.RUN_RETENTION_DAYS, audit: config.AUDIT_RETENTION_DAYS, tombstones: config.TOMBSTONE_RETENTION_DAYS } });
    } catch (error) {
      logger.error('retention purge failed', { error });
    }
  }

  /**
   * Schedules what is enabled and scheduled now; unschedules the rest. A source whose credentials
   * were refused waits for a person (new credentials, or a manual run that gets through) instead of
   * being refused again on every tick.
   */
  async reload() {
    const { rows } = await sql<{ id: number; name: string; schedule: string; timezone: string }>`
      select id, name, schedule, timezone from source where enabled and schedule is not null and needs_attention is null`.execute(this.#deps.orm.em.fork().getKysely());
    const wanted = new Map(rows.map((r) => [r.id, r]));
    for (const [id, entry] of this.#tasks) {
      const row = wanted.get(id);
      if (!row || entry.key !== `${row.schedule}|${row.timezone}`) {
        await entry.task.destroy();
        this.#tasks.delete(id);
      }
    }
    for (const row of rows) {
      if (this.#tasks.has(row.id)) continue;
      const task = cron.schedule(row.schedule, () => this.#tick(row.id, row.name), { timezone: row.timezone, name: `source-${row.id}` });
      this.#tasks.set(row.id, { task, key: `${row.schedule}|${row.timezone}` });
    }
  }

  #tick(id: number, name: string) {
    if (this.#running.has(id)) {
      this.#deps.logger.info('scheduled run skipped: the previous one is still running', { source: name });
      return;
    }
    return this.#start(id, name, 'schedule');
  }

  /** Runs a source in the background; when it ends, a run queued meanwhile (src/sync/queue.ts) may start. */
  #start(id: number, name: string, trigger: string, queued?: number) {
    const what = queued === undefined ? 'scheduled run' : 'queued run';
    const run = syncSource(this.#deps, id, trigger, this.#abort.signal, undefined, queued)
      .then((summary) => this.#deps.logger.info(`${what} finished`, { source: name, runId: summary?.runId, status: summary?.status ?? 'nothing to do' }))
      .catch((error: unknown) => {
        if (error instanceof SourceBusyError) this.#deps.logger.info(`${what} ${queued === undefined ? 'skipped' : 'waits'}: another process is running the source`, { source: name });
        else this.#deps.logger.error(`${what} failed`, { source: name, error });
      })
      .finally(() => {
        this.#running.delete(id);
        if (!this.#abort.signal.aborted && queued === undefined) void this.startQueued();
      });
    this.#running.set(id, run);
    return run;
  }

  /** Starts the queued runs whose source this process is not running; resolves when those end (for tests). */
  async startQueued(): Promise<void> {
    try {
      const started = [];
      for (const q of await queuedRuns(this.#deps.orm)) {
        if (this.#running.has(q.sourceId) || this.#abort.signal.aborted) continue;
        started.push(this.#start(q.sourceId, `#${q.sourceId}`, q.trigger, q.id));
      }
      await Promise.all(started);
    } catch (error) {
      this.#deps.logger.error('starting queued runs failed', { error });
    }
  }

  /** Stops scheduling, asks running syncs to stop, and waits for them. */
  async stop() {
    clearInterval(this.#poll);
    for (const { task } of this.#tasks.values()) await task.destroy();
    this.#tasks.clear();
    this.#abort.abort();
    await Promise.allSettled(this.#running.values());
  }

  /** Sources scheduled in this process (for tests and the console). */
  scheduled(): number[] {
    return [...this.#tasks.keys()];
  }
}

/**
 * A run is `running` only while its process holds the source's advisory lock; if the lock can be
 * taken, the process is gone. Such runs are closed as failed and their stage dropped.
 */
export async function sweepOrphanedRuns(deps: Pick<SourceDeps, 'orm' | 'logger'>): Promise<number[]> {
  const em = deps.orm.em.fork();
  const { rows } = await sql<{ id: number; source_id: number }>`select id, source_id from sync_run where status = 'running'`.execute(em.getKysely());
  if (rows.length === 0) return [];
  const conn = await RunConnection.open(deps.orm.config.get('clientUrl')!);
  const closed: number[] = [];
  try {
    for (const run of rows) {
      if (!(await conn.tryLockSource(run.source_id))) continue;
      try {
        await sql`update sync_run set status = 'failed', finished_at = now(),
            error = 'the process running it stopped before it finished; nothing of it was applied'
          where id = ${run.id} and status = 'running'`.execute(em.getKysely());
        await dropStageTables(em, run.id);
        closed.push(run.id);
        deps.logger.warn('orphaned run closed as failed', { runId: run.id });
      } finally {
        await conn.unlockSource(run.source_id);
      }
    }
  } finally {
    await conn.close();
  }
  return closed;
}
