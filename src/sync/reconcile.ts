import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { Source, SyncIssue, SyncRun } from '../db/entities.ts';
import { leanHeap } from '../heap.ts';
import { metrics } from '../metrics.ts';
import { activeRows, applyTombstones, applyUpserts, countTombstones, type TombstonePlan } from './apply.ts';
import { BloomFilter } from './bloom.ts';
import { claimChangeVersions } from './change-claims.ts';
import { RunConnection } from './copy.ts';
import { entityNames, entitySpec, entitySpecs } from './entities.ts';
import { IssueLog } from './issues.ts';
import type { EntityName, RecordBatch } from './records.ts';
import { resolveRun, type Duplicates } from './resolve.ts';
import { createStageTables, dropStageTables, prepareBatch, stageTable, tallyOf, writeBatch, type StageContext } from './stage.ts';
import { repeatOf, sourceState } from './unchanged-input.ts';

/**
 * The one write path into the shared schema (ARCHITECTURE §4).
 *
 * A run stages every record it receives (streamed, one bounded batch at a time), resolves all
 * references in bulk, decides whether the change is safe, then applies everything in a single
 * transaction: a run's changes land together or not at all. Bulk runs tombstone what their source
 * no longer sends, but only after every batch arrived; a run that would tombstone more than
 * `holdShare` of one entity is held, with its stage kept, until an admin approves or rejects it.
 */

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'partial' | 'held' | 'failed' | 'rejected' | 'invalid' | 'validated';
export type EntityCounts = { created: number; updated: number; unchanged: number; tombstoned: number; rejected: number };

export interface ReconcileOptions {
  /** Source name; created on first use. */
  source: string;
  sourceKind?: string;
  mode: 'bulk' | 'delta';
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>;
  /**
   * Entities a bulk run covers completely (default: all); others are never tombstoned by it. A
   * function is asked once every batch is in (a connector knows what it listed completely only then).
   */
  scope?: readonly EntityName[] | (() => readonly EntityName[]);
  /** Where the source's next incremental run starts; asked once every batch is in, kept only when all arrived. */
  checkpoint?: () => Record<string, unknown> | undefined;
  /** What started the run: schedule, manual, upload, api (default manual). */
  trigger?: string;
  holdShare: number;
  batchSize: number;
  /** Stored issues per run; the count goes on past it. */
  issueCap?: number;
  /** All or nothing: one error (a rejected record, an error a source reported) and nothing is applied; the run ends `invalid`. */
  atomic?: boolean;
  /** Stage and check only: report what would happen, apply nothing; the run ends `validated` or `invalid`. */
  dryRun?: boolean;
  /** Called once the run exists, with its id (an import answers with it before the run ends). */
  onRun?: (runId: number) => void;
  /** The source's lock, already taken (withSourceLock) by a caller that had work to do under it first. */
  lock?: RunConnection;
  /** A queued run of the source (src/sync/queue.ts) that this run is: its row is used instead of a new one. */
  queued?: number;
  /**
   * A fingerprint of everything the batches hold (a CSV package's bytes). When the source's last
   * applied run had the same and its rows are as that run left them, the batches are not read:
   * the run ends at once, every record unchanged (src/sync/unchanged-input.ts).
   */
  input?: string;
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
  /** The earlier run whose input this one had again (see ReconcileOptions.input): nothing was read or written. */
  sameAs?: number;
}

/** The source's id, creating it on first use (without touching an existing row). */
export async function ensureSource(em: EntityManager, name: string, kind = 'api'): Promise<number> {
  const { rows } = await sql<{ id: number }>`
    with created as (insert into source (name, kind) values (${name}, ${kind}) on conflict (name) do nothing returning id)
    select id from created union all select id from source where name = ${name} limit 1`.execute(em.getKysely());
  return rows[0]!.id;
}

/** Work under the source's lock (an advisory lock on a connection of its own, which the work may use); SourceBusyError if another run holds it. */
export async function withSourceLock<T>(orm: MikroORM, sourceId: number, name: string, work: (conn: RunConnection) => Promise<T>): Promise<T> {
  const conn = await RunConnection.open(orm.config.get('clientUrl')!);
  try {
    if (!(await conn.tryLockSource(sourceId))) throw new SourceBusyError(`another run of source '${name}' is in progress; try again when it ends`);
    return await work(conn);
  } finally {
    await conn.close();
  }
}

export class SourceBusyError extends Error {}

export async function reconcile(orm: MikroORM, options: ReconcileOptions): Promise<RunSummary> {
  const em = orm.em.fork();
  const sourceId = await ensureSource(em, options.source, options.sourceKind);
  const release = leanHeap();
  try {
    if (options.lock) return await runLocked(orm, em, sourceId, options.lock, options);
    return await withSourceLock(orm, sourceId, options.source, (copy) => runLocked(orm, em, sourceId, copy, options));
  } finally {
    release();
  }
}

async function runLocked(orm: MikroORM, em: EntityManager, sourceId: number, copy: RunConnection, options: ReconcileOptions): Promise<RunSummary> {
  const runId = await startRun(em, sourceId, options);
  options.onRun?.(runId);
  const repeat = options.input && !options.dryRun ? await repeatOf(em, sourceId, options.input) : undefined;
  if (repeat) {
    await sql`update sync_run set input = ${options.input}, end_state = ${repeat.endState}, same_as = ${repeat.runId} where id = ${runId}`.execute(em.getKysely());
    return { ...(await finish(em, runId, { status: 'succeeded', complete: true, counts: repeat.counts, issues: 0 })), sameAs: repeat.runId };
  }
  await createStageTables(em, runId);

  const ctx: StageContext = {
    runId,
    sourceId,
    tally: new Map(),
    seenIds: new BloomFilter(4_000_000),
    maybeRepeated: new Map(),
    issues: new IssueLog(runId, options.issueCap ?? 10_000),
    files: new Map(),
  };
  const clock = phaseClock();
  let complete = true;
  let error: string | undefined;
  try {
    ({ complete, error } = await stageAll(orm, copy, ctx, options));
    await ctx.issues.flush(em);
    const stage = clock();

    const plan: TombstonePlan = {
      runId,
      sourceId,
      bulkScope: options.mode === 'bulk' && complete ? ((typeof options.scope === 'function' ? options.scope() : options.scope) ?? entityNames) : [],
    };
    const active = await activeRows(em, sourceId);
    // Entities that may lose rows in this run; only references to those can go stale.
    const mayLose = entityNames.filter((e) => {
      const tally = ctx.tally.get(e);
      return (tally?.deleted ?? 0) > 0 || ctx.maybeRepeated.has(e) || (plan.bulkScope.includes(e) && (active.get(e) ?? 0) > (tally?.matchedActive ?? 0));
    });
    const duplicates = await resolveRun(em, runId, ctx.issues, ctx.maybeRepeated, ctx.files, { sourceId, scope: plan.bulkScope, mayLose });
    const checkpoint = complete ? options.checkpoint?.() : undefined;
    await sql`update sync_run set bulk_scope = ${[...plan.bulkScope]}::text[], checkpoint = ${checkpoint ? JSON.stringify(checkpoint) : null}::jsonb
      where id = ${runId}`.execute(em.getKysely());
    const staged = await stagedActions(em, runId);
    const shares = await tombstoneShares(em, plan, ctx, duplicates, active);
    const counts = runCounts(ctx, staged, duplicates, shares);
    const holdReason = holdReasonFor(shares, options.holdShare);
    // All or nothing also means a source that stopped part-way applies nothing.
    const invalid = (options.atomic || options.dryRun) && (ctx.issues.errors > 0 || (options.atomic === true && !complete));
    if (invalid || options.dryRun) {
      await dropStageTables(em, runId);
      const status = invalid ? 'invalid' : 'validated';
      return await finish(em, runId, { status, complete, counts, issues: ctx.issues.total, holdReason, error });
    }
    if (holdReason) return await finish(em, runId, { status: 'held', complete, counts, issues: ctx.issues.total, holdReason, error });
    const check = clock();

    const tombstoned = await applyRun(orm, plan, staged, shares, complete ? options.input : undefined);
    for (const [entity, n] of Object.entries(tombstoned)) counts[entity]!.tombstoned = n;
    const phases = { stage, check, apply: clock() };
    return { ...(await finish(em, runId, { status: complete ? 'succeeded' : 'partial', complete, counts, issues: ctx.issues.total, error })), phases };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    await finish(em, runId, { status: 'failed', complete, counts: {}, issues: ctx.issues.total, error: message });
    await dropStageTables(em, runId);
    throw e;
  }
}

/** The run's row, `running`: the queued one it starts, else a new one. */
async function startRun(em: EntityManager, sourceId: number, options: ReconcileOptions): Promise<number> {
  if (options.queued !== undefined) {
    await sql`update sync_run set status = 'running', mode = ${options.mode}, started_at = now() where id = ${options.queued}`.execute(em.getKysely());
    return options.queued;
  }
  const run = em.create(SyncRun, { source: em.getReference(Source, sourceId), mode: options.mode, status: 'running', trigger: options.trigger ?? 'manual' });
  await em.flush();
  return run.id;
}

/** A staging write that failed: the run fails, unlike a source that stops part-way. */
class WriteFailure extends Error {}

/**
 * Stages every batch. Batches are written while the next ones are validated and hashed, so the
 * database and the CPU work side by side; at most IN_FLIGHT batches are held in memory. A source
 * that throws ends the run incomplete (what arrived is applied, nothing is tombstoned).
 */
async function stageAll(orm: MikroORM, copy: RunConnection, ctx: StageContext, options: ReconcileOptions) {
  const IN_FLIGHT = 3;
  const writing: Promise<void>[] = [];
  let outcome: { complete: boolean; error?: string } = { complete: true };
  try {
    for await (const batch of options.batches) {
      const spec = entitySpec(batch.entity);
      if (batch.file) ctx.files.set(spec.name, batch.file);
      for (const issue of batch.issues ?? []) ctx.issues.add(issue);
      for (let i = 0; i < Math.max(batch.records.length, 1); i += options.batchSize) {
        const end = i + options.batchSize;
        const prepared = prepareBatch(ctx, spec, batch.records.slice(i, end), batch.lines?.slice(i, end), i === 0 ? batch.invalid : undefined);
        if (writing.length >= IN_FLIGHT) await writing.shift();
        if (!prepared) continue;
        const written = writeBatch(orm.em.fork(), copy, ctx, spec, prepared).catch((e: unknown) => {
          throw new WriteFailure('staging failed', { cause: e });
        });
        // Awaited later; until then a failure must not count as unhandled.
        written.catch(() => {});
        writing.push(written);
      }
    }
  } catch (e) {
    if (e instanceof WriteFailure) throw e.cause;
    outcome = { complete: false, error: e instanceof Error ? e.message : String(e) };
  }
  try {
    await Promise.all(writing);
  } catch (e) {
    throw e instanceof WriteFailure ? e.cause : e;
  }
  return outcome;
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

type Share = { entity: string; doomed: number; active: number };
type Staged = Map<string, Record<string, number>>;

/** Stage rows per entity and action, after the checks. */
async function stagedActions(em: EntityManager, runId: number): Promise<Staged> {
  const parts = entitySpecs.map(
    (spec) => sql`select ${spec.name}::text as entity, action, count(*)::int as n
      from ${sql.table(stageTable(runId, spec.table))} group by action`,
  );
  const { rows } = await sql<{ entity: string; action: string; n: number }>`${sql.join(parts, sql` union all `)}`.execute(em.getKysely());
  const staged: Staged = new Map(entityNames.map((e) => [e, {}]));
  for (const r of rows) staged.get(r.entity)![r.action] = r.n;
  return staged;
}

/**
 * What the plan would tombstone per entity. Without repeated ids the staging tallies say it
 * exactly (active rows minus those the run saw, plus explicit deletes); otherwise count by scan.
 */
async function tombstoneShares(
  em: EntityManager, plan: TombstonePlan, ctx: StageContext | undefined, duplicates: Map<string, Duplicates>, known?: Map<string, number>,
): Promise<Share[]> {
  const active = known ?? (await activeRows(em, plan.sourceId));
  const shares: Share[] = [];
  for (const entity of entityNames) {
    const tally = ctx?.tally.get(entity);
    const bulk = plan.bulkScope.includes(entity);
    const exact = !tally || (duplicates.get(entity)?.ids ?? 0) > 0;
    const doomed = exact
      ? await countTombstones(em, plan, entity)
      : (bulk ? (active.get(entity) ?? 0) - tally.matchedActive : 0) + tally.deleted;
    shares.push({ entity, doomed, active: active.get(entity) ?? 0 });
  }
  return shares;
}

/**
 * Per-entity counts: every id a run saw is created, updated, unchanged, tombstoned or rejected
 * (repeated ids count once per copy); records refused before staging count as rejected too.
 */
function runCounts(ctx: StageContext, staged: Staged, duplicates: Map<string, Duplicates>, shares: Share[]) {
  const counts: Record<string, EntityCounts> = {};
  for (const entity of entityNames) {
    const tally = tallyOf(ctx, entity);
    const n = staged.get(entity)!;
    const [created, updated, deleted, rejected] = [n.create ?? 0, n.update ?? 0, n.delete ?? 0, (n.rejected ?? 0) + (n.invalid ?? 0)];
    const repeats = duplicates.get(entity)?.rows ?? 0;
    counts[entity] = {
      created,
      updated,
      unchanged: tally.seen - tally.seenRefused - repeats - created - updated - deleted - rejected,
      tombstoned: shares.find((s) => s.entity === entity)?.doomed ?? 0,
      rejected: tally.refused + rejected + repeats,
    };
  }
  return counts;
}

function holdReasonFor(shares: Share[], holdShare: number): string | undefined {
  const over = shares.filter((s) => s.active > 0 && s.doomed / s.active > holdShare);
  if (over.length === 0) return undefined;
  const parts = over.map((s) => `${s.doomed} of ${s.active} ${s.entity} rows (${Math.round((100 * s.doomed) / s.active)}%)`);
  return `would tombstone ${parts.join(', ')}; more than ${Math.round(holdShare * 100)}% needs approval`;
}

/**
 * Applies a staged run in one transaction and drops its stage; returns rows tombstoned per
 * entity. Tables loaded in bulk get fresh planner statistics before anyone reads them, and once
 * committed a VACUUM marks their pages all-visible, so index-only scans (deep API pages, counts)
 * do not visit the heap until autovacuum would have got round to it.
 */
async function applyRun(orm: MikroORM, plan: TombstonePlan, staged: Staged, shares: Share[], input?: string) {
  const doomed = shares.filter((s) => s.doomed > 0).map((s) => s.entity);
  const pending = new Map([...staged].map(([entity, n]) => [entity, (n.create ?? 0) + (n.update ?? 0)]));
  const { tombstoned, bulkLoaded } = await orm.em.fork().transactional(async (tx) => {
    await claimChangeVersions(tx);
    const now = new Date();
    const { bulkLoaded: loaded, grown } = await applyUpserts(tx, plan.runId, plan.sourceId, now, pending);
    const gone = await applyTombstones(tx, plan, now, doomed);
    for (const table of [...loaded, ...grown]) await sql`analyze ${sql.table(table)}`.execute(tx.getKysely());
    await dropStageTables(tx, plan.runId);
    // What a run with the same input next time compares against, as this transaction leaves it.
    if (input) await sql`update sync_run set input = ${input}, end_state = ${await sourceState(tx, plan.sourceId)} where id = ${plan.runId}`.execute(tx.getKysely());
    return { tombstoned: gone, bulkLoaded: loaded };
  });
  // VACUUM cannot run inside a transaction block.
  if (bulkLoaded.length) await sql`vacuum ${sql.join(bulkLoaded.map((t) => sql.table(t)))}`.execute(orm.em.fork().getKysely());
  return tombstoned;
}

async function finish(em: EntityManager, runId: number, summary: Omit<RunSummary, 'runId'>): Promise<RunSummary> {
  const { rows: named } = await sql<{ name: string }>`select s.name from sync_run r join source s on s.id = r.source_id where r.id = ${runId}`.execute(em.getKysely());
  metrics.run(named[0]?.name ?? 'unknown', summary.status, summary.counts);
  await sql`update sync_run set status = ${summary.status}, complete = ${summary.complete},
      counts = ${JSON.stringify(summary.counts)}::jsonb, hold_reason = ${summary.holdReason ?? null},
      error = ${summary.error ?? null}, finished_at = ${summary.status === 'held' ? null : new Date()}
    where id = ${runId}`.execute(em.getKysely());
  return { runId, ...summary };
}

/** A run that failed before it could read anything (its connector could not start), on record all the same (as the queued run it was, if one). */
export async function recordFailedRun(orm: MikroORM, sourceId: number, trigger: string, error: string, queued?: number): Promise<RunSummary> {
  const db = orm.em.fork().getKysely();
  const { rows } = queued
    ? await sql<{ id: number }>`update sync_run set status = 'failed', error = ${error}, started_at = now(), finished_at = now(), counts = '{}'::jsonb
        where id = ${queued} returning id::int as id`.execute(db)
    : await sql<{ id: number }>`insert into sync_run (source_id, mode, status, trigger, error, finished_at, counts)
        values (${sourceId}, 'bulk', 'failed', ${trigger}, ${error}, now(), '{}'::jsonb) returning id::int as id`.execute(db);
  return { runId: rows[0]!.id, status: 'failed', complete: false, counts: {}, issues: 0, error };
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
  const tombstoned = await withSourceLock(orm, plan.sourceId, `#${plan.sourceId}`, async () =>
    applyRun(orm, plan, await stagedActions(em, runId), await tombstoneShares(em, plan, undefined, new Map())));
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
    await dropStageTables(tx, runId);
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
