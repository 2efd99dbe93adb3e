import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { Source, SyncIssue, SyncRun } from '../db/entities.ts';
import { applyTombstones, applyUpserts, tombstoneShares, type TombstonePlan } from './apply.ts';
import { entityNames, entitySpec } from './entities.ts';
import { IssueLog } from './issues.ts';
import type { EntityName, RecordBatch } from './records.ts';
import { resolveRun, type Duplicates } from './resolve.ts';
import { prepareBatch, writeBatch, type StageContext } from './stage.ts';

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
  /** Milliseconds spent staging, checking and applying. */
  phases?: { stage: number; check: number; apply: number };
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
    refused: new Map(),
    seen: new Map(),
    issues: new IssueLog(runId, options.issueCap ?? 10_000),
  };
  let complete = true;
  let error: string | undefined;
  // One batch is written while the next is validated and hashed: the database and the CPU work
  // side by side, and at most two batches are in memory.
  let writing: Promise<void> = Promise.resolve();
  const clock = phaseClock();
  try {
    for await (const batch of options.batches) {
      const spec = entitySpec(batch.entity);
      for (let i = 0; i < batch.records.length; i += options.batchSize) {
        const prepared = prepareBatch(ctx, spec, batch.records.slice(i, i + options.batchSize));
        await writing;
        if (prepared) writing = writeBatch(orm.em.fork(), ctx, spec, prepared);
      }
    }
  } catch (e) {
    // The source stopped part-way: what arrived is still applied, but nothing is tombstoned.
    complete = false;
    error = e instanceof Error ? e.message : String(e);
  }

  try {
    await writing;
    await ctx.issues.flush(em);
    const stage = clock();
    const duplicates = await resolveRun(em, runId, ctx.issues);
    const plan: TombstonePlan = {
      runId,
      sourceId,
      bulkScope: options.mode === 'bulk' && complete ? (options.scope ?? entityNames) : [],
    };
    await sql`update sync_run set bulk_scope = ${[...plan.bulkScope]}::text[] where id = ${runId}`.execute(em.getKysely());
    const shares = await tombstoneShares(em, plan);
    const counts = await stagedCounts(em, runId, ctx, duplicates, shares);
    const holdReason = holdReasonFor(shares, options.holdShare);
    if (holdReason) return await finish(em, runId, { status: 'held', complete, counts, issues: ctx.issues.total, holdReason, error });
    const check = clock();
    const tombstoned = await applyRun(orm, plan, shares);
    for (const [entity, n] of Object.entries(tombstoned)) counts[entity]!.tombstoned = n;
    const phases = { stage, check, apply: clock() };
    return { ...(await finish(em, runId, { status: complete ? 'succeeded' : 'partial', complete, counts, issues: ctx.issues.total, error })), phases };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    await finish(em, runId, { status: 'failed', complete, counts: {}, issues: ctx.issues.total, error: message });
    await dropStage(em, runId);
    throw e;
  }
}

/** Each call returns the milliseconds since the previous one. */
function phaseClock() {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const ms = Math.round(now - last);
    last = now;
    return ms;
  };
}

type Shares = Awaited<ReturnType<typeof tombstoneShares>>;

function holdReasonFor(shares: Shares, holdShare: number): string | undefined {
  const over = shares.filter((s) => s.active > 0 && s.doomed / s.active > holdShare);
  if (over.length === 0) return undefined;
  const parts = over.map((s) => `${s.doomed} of ${s.active} ${s.entity} rows (${Math.round((100 * s.doomed) / s.active)}%)`);
  return `would tombstone ${parts.join(', ')}; more than ${Math.round(holdShare * 100)}% needs approval`;
}

/**
 * Applies a staged run in one transaction and clears its stage; returns rows tombstoned per
 * entity. Tables loaded in bulk are vacuumed afterwards so later runs read hashes from warm,
 * all-visible pages.
 */
async function applyRun(orm: MikroORM, plan: TombstonePlan, shares: Shares) {
  const doomed = shares.filter((s) => s.doomed > 0).map((s) => s.entity);
  const { tombstoned, bulkLoaded } = await orm.em.fork().transactional(async (tx) => {
    const now = new Date();
    const bulkLoaded = await applyUpserts(tx, plan.runId, plan.sourceId, now);
    const tombstoned = await applyTombstones(tx, plan, now, doomed);
    await dropStage(tx, plan.runId);
    return { tombstoned, bulkLoaded };
  });
  const db = orm.em.fork().getKysely();
  for (const table of bulkLoaded) await sql`vacuum (analyze) ${sql.table(table)}`.execute(db);
  return tombstoned;
}

/**
 * Per-entity counts: every id a run saw is created, updated, unchanged or rejected (duplicates
 * count once per copy); records refused before staging count as rejected too.
 */
async function stagedCounts(
  em: EntityManager,
  runId: number,
  ctx: StageContext,
  duplicates: Map<string, Duplicates>,
  shares: Shares,
): Promise<Record<string, EntityCounts>> {
  const { rows } = await sql<{ entity: string; created: string; updated: string; staged: string; rejected: string }>`
    select entity,
           count(*) filter (where action = 'create') as created,
           count(*) filter (where action = 'update') as updated,
           count(distinct sourced_id) filter (where action <> 'duplicate') as staged,
           count(distinct sourced_id) filter (where action = 'rejected') as rejected
    from sync_stage where run_id = ${runId} group by entity`.execute(em.getKysely());
  const counts: Record<string, EntityCounts> = {};
  for (const entity of entityNames) {
    const r = rows.find((x) => x.entity === entity);
    const dup = duplicates.get(entity) ?? { ids: 0, rows: 0 };
    const seen = ctx.seen.get(entity) ?? 0;
    counts[entity] = {
      created: Number(r?.created ?? 0),
      updated: Number(r?.updated ?? 0),
      unchanged: seen - dup.rows - Number(r?.staged ?? 0),
      tombstoned: shares.find((s) => s.entity === entity)?.doomed ?? 0,
      rejected: (ctx.refused.get(entity) ?? 0) + Number(r?.rejected ?? 0) + dup.rows,
    };
  }
  return counts;
}

async function dropStage(em: EntityManager, runId: number) {
  const db = em.getKysely();
  await sql`delete from sync_stage where run_id = ${runId}`.execute(db);
  await sql`delete from sync_seen where run_id = ${runId}`.execute(db);
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
  const run = await em.findOneOrFail(SyncRun, runId, { failHandler: () => new RunStateError(`run ${runId} does not exist`, 'missing') });
  if (run.status !== 'held') throw new RunStateError(`run ${runId} is ${run.status}, not held`);
  const later = await em.count(SyncRun, {
    source: run.source,
    id: { $gt: runId },
    status: { $in: ['succeeded', 'partial'] },
  });
  if (later > 0) throw new RunStateError(`run ${runId} is superseded by a later run of the same source; reject it and sync again`);
  const plan = { runId, sourceId: run.source.id, bulkScope: run.bulkScope ?? [] };
  // The stage is what was held, so the held counts stand; only the tombstones are counted anew.
  const tombstoned = await applyRun(orm, plan, await tombstoneShares(em, plan));
  const counts = Object.fromEntries(
    Object.entries(run.counts ?? {}).map(([entity, c]) => [entity, { ...c, tombstoned: tombstoned[entity] ?? 0 }]),
  ) as Record<string, EntityCounts>;
  const issues = await em.count(SyncIssue, { run: runId });
  return finish(em, runId, { status: run.complete ? 'succeeded' : 'partial', complete: run.complete, counts, issues, error: run.error ?? undefined });
}

export async function rejectRun(orm: MikroORM, runId: number): Promise<void> {
  const em = orm.em.fork();
  const run = await em.findOne(SyncRun, runId);
  if (!run) throw new RunStateError(`run ${runId} does not exist`, 'missing');
  if (run.status !== 'held') throw new RunStateError(`run ${runId} is ${run.status}, not held`);
  await em.transactional(async (tx) => {
    await dropStage(tx, runId);
    await sql`update sync_run set status = 'rejected', finished_at = now() where id = ${runId}`.execute(tx.getKysely());
  });
}

/** A run that does not exist (`missing`) or is not in a state that allows the action (`conflict`). */
export class RunStateError extends Error {
  readonly kind: 'missing' | 'conflict';
  constructor(message: string, kind: 'missing' | 'conflict' = 'conflict') {
    super(message);
    this.kind = kind;
  }
}
