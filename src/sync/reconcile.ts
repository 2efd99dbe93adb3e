import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { Source, SyncRun } from '../db/entities.ts';
import { applyTombstones, applyUpserts, tombstoneShares, type TombstonePlan } from './apply.ts';
import { entityNames, entitySpec } from './entities.ts';
import { IssueLog } from './issues.ts';
import type { EntityName, RecordBatch } from './records.ts';
import { resolveReferences } from './resolve.ts';
import { stageBatch, type StageContext } from './stage.ts';

/**
 * The one write path into the shared schema (ARCHITECTURE §4).
 *
 * A run stages every record it receives (streamed, one bounded batch at a time), resolves all
 * references in bulk, decides whether the change is safe, then applies everything in a single
 * transaction: a run's changes land together or not at all. Bulk runs tombstone what their source
 * no longer sends, but only after every batch arrived; a run that would tombstone more than
 * `holdShare` of one entity is held, with its stage kept, until an admin approves or rejects it.
 */

export type RunStatus = 'running' | 'succeeded' | 'partial' | 'held' | 'failed' | 'rejected';
export type EntityCounts = { created: number; updated: number; unchanged: number; tombstoned: number; rejected: number };

export interface ReconcileOptions {
  /** Source name; created on first use. */
  source: string;
  sourceKind?: string;
  mode: 'bulk' | 'delta';
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>;
  /** Entities a bulk run covers completely (default: all); others are never tombstoned by it. */
  scope?: readonly EntityName[];
  holdShare: number;
  batchSize: number;
  /** Stored issues per run; the count goes on past it. */
  issueCap?: number;
}

export interface RunSummary {
  runId: number;
  status: RunStatus;
  complete: boolean;
  counts: Record<string, EntityCounts>;
  issues: number;
  holdReason?: string;
  error?: string;
}

export async function ensureSource(em: EntityManager, name: string, kind = 'api'): Promise<number> {
  const { rows } = await sql<{ id: number }>`
    insert into source (name, kind) values (${name}, ${kind})
    on conflict (name) do update set name = excluded.name
    returning id`.execute(em.getKysely());
  return rows[0]!.id;
}

export async function reconcile(orm: MikroORM, options: ReconcileOptions): Promise<RunSummary> {
  const em = orm.em.fork();
  const sourceId = await ensureSource(em, options.source, options.sourceKind);
  const run = em.create(SyncRun, { source: em.getReference(Source, sourceId), mode: options.mode, status: 'running' });
  await em.flush();
  const runId = run.id;

  const ctx: StageContext = {
    runId,
    sourceId,
    sourceName: options.source,
    refused: new Map(),
    issues: new IssueLog(runId, options.issueCap ?? 10_000),
  };
  let complete = true;
  let error: string | undefined;
  try {
    for await (const batch of options.batches) {
      const spec = entitySpec(batch.entity);
      for (let i = 0; i < batch.records.length; i += options.batchSize) {
        const batchEm = orm.em.fork();
        await stageBatch(batchEm, ctx, spec, batch.records.slice(i, i + options.batchSize));
        await ctx.issues.flush(batchEm);
      }
    }
  } catch (e) {
    // The source stopped part-way: what arrived is still applied, but nothing is tombstoned.
    complete = false;
    error = e instanceof Error ? e.message : String(e);
  }

  try {
    await resolveReferences(em, runId, ctx.issues);
    const plan: TombstonePlan = {
      runId,
      sourceId,
      bulkScope: options.mode === 'bulk' && complete ? (options.scope ?? entityNames) : [],
    };
    const holdReason = await checkHold(em, plan, options.holdShare);
    await sql`update sync_run set bulk_scope = ${[...plan.bulkScope]}::text[] where id = ${runId}`.execute(em.getKysely());
    if (holdReason) {
      const counts = await stagedCounts(em, runId, ctx.refused, await tombstoneShares(em, plan));
      return await finish(em, runId, { status: 'held', complete, counts, issues: ctx.issues.total, holdReason, error });
    }
    const counts = await applyRun(orm, plan, ctx.refused);
    return await finish(em, runId, { status: complete ? 'succeeded' : 'partial', complete, counts, issues: ctx.issues.total, error });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    await finish(em, runId, { status: 'failed', complete, counts: {}, issues: ctx.issues.total, error: message });
    await dropStage(em, runId);
    throw e;
  }
}

async function checkHold(em: EntityManager, plan: TombstonePlan, holdShare: number): Promise<string | undefined> {
  const over = (await tombstoneShares(em, plan)).filter((s) => s.active > 0 && s.doomed / s.active > holdShare);
  if (over.length === 0) return undefined;
  const parts = over.map((s) => `${s.doomed} of ${s.active} ${s.entity} rows (${Math.round((100 * s.doomed) / s.active)}%)`);
  return `would tombstone ${parts.join(', ')}; more than ${Math.round(holdShare * 100)}% needs approval`;
}

/** Applies a staged run in one transaction and clears its stage; returns the final counts. */
async function applyRun(orm: MikroORM, plan: TombstonePlan, refused: Map<string, number>) {
  return orm.em.fork().transactional(async (tx) => {
    const now = new Date();
    await applyUpserts(tx, plan.runId, plan.sourceId, now);
    const tombstoned = await applyTombstones(tx, plan, now);
    const counts = await stagedCounts(tx, plan.runId, refused, Object.entries(tombstoned).map(([entity, doomed]) => ({ entity, doomed })));
    await dropStage(tx, plan.runId);
    return counts;
  });
}

async function stagedCounts(
  em: EntityManager,
  runId: number,
  refused: Map<string, number>,
  tombstones: { entity: string; doomed: number }[],
): Promise<Record<string, EntityCounts>> {
  const counts: Record<string, EntityCounts> = {};
  for (const name of entityNames) {
    counts[name] = { created: 0, updated: 0, unchanged: 0, tombstoned: 0, rejected: refused.get(name) ?? 0 };
  }
  const { rows } = await sql<{ entity: string; action: string; n: string }>`
    select entity, action, count(*) as n from sync_stage where run_id = ${runId} group by entity, action`.execute(em.getKysely());
  for (const { entity, action, n } of rows) {
    const c = counts[entity]!;
    if (action === 'create') c.created += Number(n);
    else if (action === 'update') c.updated += Number(n);
    else if (action === 'unchanged') c.unchanged += Number(n);
    else if (action === 'rejected') c.rejected += Number(n);
  }
  for (const t of tombstones) counts[t.entity]!.tombstoned = t.doomed;
  return counts;
}

async function dropStage(em: EntityManager, runId: number) {
  await sql`delete from sync_stage where run_id = ${runId}`.execute(em.getKysely());
}

async function finish(em: EntityManager, runId: number, summary: Omit<RunSummary, 'runId'>): Promise<RunSummary> {
  await sql`update sync_run set status = ${summary.status}, complete = ${summary.complete},
      counts = ${JSON.stringify(summary.counts)}::jsonb, hold_reason = ${summary.holdReason ?? null},
      error = ${summary.error ?? null}, finished_at = ${summary.status === 'held' ? null : new Date()}
    where id = ${runId}`.execute(em.getKysely());
  return { runId, ...summary };
}

/** Applies a held run as it was staged. Refused when a later run of the source has already landed. */
export async function approveRun(orm: MikroORM, runId: number): Promise<RunSummary> {
  const em = orm.em.fork();
  const run = await em.findOneOrFail(SyncRun, runId, { failHandler: () => new RunStateError(`run ${runId} does not exist`) });
  if (run.status !== 'held') throw new RunStateError(`run ${runId} is ${run.status}, not held`);
  const later = await em.count(SyncRun, {
    source: run.source,
    id: { $gt: runId },
    status: { $in: ['succeeded', 'partial'] },
  });
  if (later > 0) throw new RunStateError(`run ${runId} is superseded by a later run of the same source; reject it and sync again`);
  const sourceId = run.source.id;
  const scope = run.bulkScope ?? [];
  // Issues were recorded when the run was staged; approval re-applies the stage, nothing else.
  const previous = run.counts ?? {};
  const refused = new Map(Object.entries(previous).map(([e, c]) => [e, c.rejected ?? 0]));
  const staged = await sql<{ entity: string; n: string }>`
    select entity, count(*) as n from sync_stage where run_id = ${runId} and action = 'rejected' group by entity`.execute(em.getKysely());
  for (const { entity, n } of staged.rows) refused.set(entity, (refused.get(entity) ?? 0) - Number(n));
  const counts = await applyRun(orm, { runId, sourceId, bulkScope: scope }, refused);
  const issues = await em.count('SyncIssue', { run: runId });
  return finish(em, runId, { status: run.complete ? 'succeeded' : 'partial', complete: run.complete, counts, issues, error: run.error ?? undefined });
}

export async function rejectRun(orm: MikroORM, runId: number): Promise<void> {
  const em = orm.em.fork();
  const run = await em.findOne(SyncRun, runId);
  if (!run) throw new RunStateError(`run ${runId} does not exist`);
  if (run.status !== 'held') throw new RunStateError(`run ${runId} is ${run.status}, not held`);
  await em.transactional(async (tx) => {
    await dropStage(tx, runId);
    await sql`update sync_run set status = 'rejected', finished_at = now() where id = ${runId}`.execute(tx.getKysely());
  });
}

export class RunStateError extends Error {}
