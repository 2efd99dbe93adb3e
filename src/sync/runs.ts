import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { csvLine } from '../text/csv.ts';

/** Read side of sync runs: what the admin API and the CLI show. */

export interface RunView {
  id: number;
  source: string;
  mode: string;
  status: string;
  complete: boolean;
  startedAt: string;
  finishedAt: string | null;
  counts: Record<string, Record<string, number>> | null;
  holdReason: string | null;
  error: string | null;
  /** Where the source's next incremental run starts (an Ed-Fi change version), when this run left one. */
  checkpoint: Record<string, unknown> | null;
  /** The earlier run whose input this one had again, the source's rows as that run left them: nothing was read or written. */
  sameAs: number | null;
  issues: number;
}

export interface IssueView {
  entity: string;
  sourcedId: string | null;
  field: string | null;
  file: string | null;
  line: number | null;
  severity: string;
  code: string;
  message: string;
}

const runColumns = sql`r.id::int as id, s.name as source, r.mode, r.status, r.complete,
  to_char(r.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "startedAt",
  to_char(r.finished_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "finishedAt",
  r.counts, r.hold_reason as "holdReason", r.error, r.checkpoint, r.same_as::int as "sameAs",
  (select count(*)::int from sync_issue i where i.run_id = r.id) as issues`;

const issueColumns = sql`entity, sourced_id as "sourcedId", field, file, line, severity, code, message`;
/** File by file, in line order; what has no file (run-wide problems) first. */
const issueOrder = sql`file nulls first, line nulls first, id`;

export async function listRuns(orm: MikroORM, options: { status?: string; source?: string; limit: number; offset: number }) {
  const db = orm.em.fork().getKysely();
  const filters = [
    ...(options.status ? [sql`r.status = ${options.status}`] : []),
    ...(options.source ? [sql`s.name = ${options.source}`] : []),
  ];
  const where = filters.length ? sql`where ${sql.join(filters, sql` and `)}` : sql``;
  const { rows } = await sql<RunView>`select ${runColumns} from sync_run r join source s on s.id = r.source_id
    ${where} order by r.id desc limit ${options.limit} offset ${options.offset}`.execute(db);
  const { rows: total } = await sql<{ n: number }>`select count(*)::int as n from sync_run r join source s on s.id = r.source_id ${where}`.execute(db);
  return { runs: rows, total: total[0]!.n };
}

/** Deletes finished runs (and their issues) older than `days`; queued, held and running runs stay. */
export async function purgeRuns(orm: MikroORM, days: number): Promise<number> {
  const result = await sql`delete from sync_run where status not in ('queued', 'running', 'held')
    and coalesce(finished_at, started_at) < now() - make_interval(days => ${days})`.execute(orm.em.fork().getKysely());
  return Number(result.numAffectedRows ?? 0);
}

export async function getRun(orm: MikroORM, id: number, issueLimit = 100): Promise<(RunView & { issueList: IssueView[] }) | undefined> {
  const db = orm.em.fork().getKysely();
  const { rows } = await sql<RunView>`select ${runColumns} from sync_run r join source s on s.id = r.source_id where r.id = ${id}`.execute(db);
  if (!rows[0]) return undefined;
  const { rows: issueList } = await sql<IssueView>`select ${issueColumns}
    from sync_issue where run_id = ${id} order by ${issueOrder} limit ${issueLimit}`.execute(db);
  return { ...rows[0], issueList };
}

/** Every issue of a run, a page at a time, in report order. */
export async function* issuesOf(orm: MikroORM, id: number, pageSize = 5000): AsyncGenerator<IssueView[]> {
  const db = orm.em.fork().getKysely();
  for (let offset = 0; ; offset += pageSize) {
    const { rows } = await sql<IssueView>`select ${issueColumns} from sync_issue where run_id = ${id}
      order by ${issueOrder} limit ${pageSize} offset ${offset}`.execute(db);
    if (rows.length === 0) return;
    yield rows;
  }
}

/** A run's issues as a CSV report, a page at a time: file, line, entity, id, field, severity, code, message. */
export async function* issueReport(orm: MikroORM, id: number): AsyncGenerator<string> {
  yield csvLine(['file', 'line', 'entity', 'sourcedId', 'field', 'severity', 'code', 'message']);
  for await (const page of issuesOf(orm, id)) {
    yield page.map((i) => csvLine([i.file ?? '', i.line?.toString() ?? '', i.entity, i.sourcedId ?? '', i.field ?? '', i.severity, i.code, i.message])).join('');
  }
}

/**
 * When the source's last succeeded run began: with `covering`, the last one that listed all of those
 * entities completely (a full run, which could tombstone them); without, any (where an incremental
 * run may start reading changes).
 */
export async function lastSucceededRun(orm: MikroORM, sourceId: number, covering?: readonly string[]): Promise<Date | null> {
  const full = covering ? sql`and bulk_scope @> ${[...covering]}::text[]` : sql``;
  const { rows } = await sql<{ at: Date | null }>`select max(started_at) as at from sync_run
    where source_id = ${sourceId} and status = 'succeeded' ${full}`.execute(orm.em.fork().getKysely());
  return rows[0]?.at ? new Date(rows[0].at) : null;
}

/** The checkpoint of the source's last succeeded run that left one (SyncPull.checkpoint); null if none did. */
export async function lastCheckpoint(orm: MikroORM, sourceId: number): Promise<Record<string, unknown> | null> {
  const { rows } = await sql<{ checkpoint: Record<string, unknown> }>`select checkpoint from sync_run
    where source_id = ${sourceId} and status = 'succeeded' and checkpoint is not null order by started_at desc, id desc limit 1`.execute(orm.em.fork().getKysely());
  return rows[0]?.checkpoint ?? null;
}
