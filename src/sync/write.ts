import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import { preparedPoolOf, runPrepared } from '../db/prepared.ts';
import { claimCte } from './change-claims.ts';
import { entitySpec, type EntitySpec } from './entities.ts';
import { roleRecord, userRecord, type EntityName, type RecordsByEntity } from './records.ts';
import { storedForm } from './stage.ts';
import { uuidv7 } from './uuid.ts';

/**
 * Writing single records, for the API doors (one unit of work per request), by the engine's rules:
 * the same content hash as a run computes, so a write that changes nothing changes nothing (no new
 * change version, etag or timestamp); a change takes one version from the global sequence. Rows
 * keep their owning source: the API edits what a sync brought, and the next run of that source
 * compares against the edit (the stored input hash is cleared).
 *
 * The records of one write go to the database as one statement (each upsert, and the replacement
 * of its child rows, a data-modifying CTE), so they land together without a transaction of their
 * own and cost one round trip; concurrent writes on a door's pool share statements (WriteBatcher).
 * A caller that merged its record into the stored one passes the hash it read; if the row changed
 * meanwhile, nothing is written and WriteConflict says to read again.
 */

export interface Written {
  outcome: 'created' | 'updated' | 'unchanged';
  edfiId: string;
  etag: string;
  changeVersion: number;
  dateLastModified: Date;
}

export interface RecordWrite<E extends EntityName = EntityName> {
  entity: E;
  record: RecordsByEntity[E];
  /** The content hash of the stored row the record was merged into; the write applies only while the row still has it. */
  expectedHash?: string;
}

/** The row changed between the caller's read and its write; read it again and redo the write. */
export class WriteConflict extends Error {}

/** A person written through Ed-Fi exists before any school association gives them a role. */
const schemas: Partial<Record<EntityName, z.ZodType>> = { user: userRecord.extend({ roles: z.array(roleRecord) }) };

const columnsOf = (spec: EntitySpec, record: Record<string, unknown>) =>
  Object.fromEntries(spec.fields.map((f, i) => [spec.columns[i]!, record[f] ?? null]));

/** Column lists of an entity's statements, built once: they are constants of the schema (and a request builds them often). */
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
const fragments = new Map<string, { table: RawBuilder<unknown>; columns: RawBuilder<unknown>; fromRecord: RawBuilder<unknown>; updates: RawBuilder<unknown> }>();
function fragmentsOf(spec: EntitySpec) {
  let f = fragments.get(spec.table);
  if (!f) {
    f = {
      table: sql.raw(quote(spec.table)),
      columns: sql.raw(spec.columns.map(quote).join(', ')),
      fromRecord: sql.raw(spec.columns.map((c) => `r.${quote(c)}`).join(', ')),
      updates: sql.raw(spec.columns.filter((c) => c !== 'sourced_id').map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')),
    };
    fragments.set(spec.table, f);
  }
  return f;
}
function childFragmentsOf(child: EntitySpec['children'][number]) {
  const cols = ['user_sourced_id', ...child.columns];
  return { table: sql.raw(quote(child.table)), columns: sql.raw(cols.map(quote).join(', ')), fromRecord: sql.raw(cols.map((c) => `r.${quote(c)}`).join(', ')) };
}

interface Row { i: number; k: 'w' | 's'; edfi_id: string; etag: string; change_version: string; date_last_modified: Date; content_hash: string; status: string; created: boolean }

/** One record write as SQL, for a statement that may carry other writes too: `i` names its parts. */
interface Piece {
  /** The row it writes (writes of one row never share a statement). */
  key: string;
  /** What its SQL looks like, values aside: statements of pieces of the same shapes are the same prepared statement. */
  shape: string;
  hash: string;
  expectedHash?: string;
  /** `lockWaitMs`: how long the statement may wait for a row another transaction holds (else as long as it takes). */
  ctes(i: number, lockWaitMs?: number): RawBuilder<unknown>[];
  written(i: number): RawBuilder<unknown>;
  before(i: number): RawBuilder<unknown>;
}

function pieceOf(sourceId: number, write: RecordWrite, now: Date): Piece {
  const spec = entitySpec(write.entity);
  const record = (schemas[write.entity] ?? spec.schema).parse(write.record) as Record<string, unknown>;
  const id = record.sourcedId as string;
  const { content } = storedForm(spec, record);
  const { table, columns, fromRecord, updates } = fragmentsOf(spec);
  const guard = write.expectedHash === undefined ? sql`` : sql`and t.content_hash = ${write.expectedHash}`;
  const children = spec.children.map((child) => ({
    frag: childFragmentsOf(child),
    items: ((record[child.field] as Record<string, unknown>[] | undefined) ?? []).map((item) => ({
      user_sourced_id: id,
      ...Object.fromEntries(child.fields.map((f, j) => [child.columns[j]!, item[f] ?? null])),
    })),
  }));
  const row = JSON.stringify(columnsOf(spec, record));
  return {
    key: `${spec.table}:${id}`,
    shape: `${spec.table}${write.expectedHash === undefined ? '' : '?'}${children.map((c) => (c.items.length ? '+' : '-')).join('')}`,
    hash: content,
    expectedHash: write.expectedHash,
    ctes: (i, lockWaitMs) => {
      const w = sql.raw(`w${i}`);
      // Set while the row is built, before the insert waits for a lock on it.
      const patience = lockWaitMs === undefined ? sql`` : sql.raw(`, set_config('lock_timeout', '${Math.round(lockWaitMs)}ms', true)`);
      return [
        sql`${w} as (
      insert into ${table} as t (edfi_id, status, date_last_modified, etag, change_version, content_hash, input_hash, source_id, ${columns})
      select ${uuidv7()}::uuid, 'active', ${now}, x.cv::text || '-' || left(${content}, 8), x.cv, ${content}, null, ${sourceId}, ${fromRecord}
      from jsonb_populate_record(null::${table}, ${row}::jsonb) r, (select nextval('change_version_seq') as cv${patience} from claim) x
      on conflict (sourced_id) do update set
        status = 'active', date_last_modified = excluded.date_last_modified, etag = excluded.etag, change_version = excluded.change_version,
        content_hash = excluded.content_hash, input_hash = null, ${updates}
      where (t.content_hash is distinct from excluded.content_hash or t.status <> 'active') ${guard}
      returning t.edfi_id, t.etag, t.change_version, t.date_last_modified, t.content_hash, t.status, (t.xmax = 0) as created)`,
        ...children.flatMap(({ frag, items }, c) => [
          // Replaced only when the parent was written; the statement's snapshot keeps the new rows out of the delete.
          sql`${sql.raw(`d${i}_${c}`)} as (delete from ${frag.table} where user_sourced_id = ${id}
        and exists (select 1 from ${w} where not ${w}.created))`,
          ...(items.length ? [sql`${sql.raw(`n${i}_${c}`)} as (insert into ${frag.table} (${frag.columns})
          select ${frag.fromRecord} from jsonb_populate_recordset(null::${frag.table}, ${JSON.stringify(items)}::jsonb) r
          where exists (select 1 from ${w}))`] : []),
        ]),
      ];
    },
    written: (i) => sql`select ${i}::int as i, 'w' as k, * from ${sql.raw(`w${i}`)}`,
    // The row as it was before this statement: what an unchanged (or conflicting) write answers with.
    before: (i) => sql`select ${i}::int as i, 's' as k, edfi_id, etag, change_version, date_last_modified, content_hash, status, false as created from ${table} where sourced_id = ${id}`,
  };
}

/** What became of each piece: the row it wrote, else the row as the statement found it. */
interface Outcome { done?: Row; stored?: Row }

/** Writes the pieces in one statement (each upsert, and the replacement of its child rows, a data-modifying CTE). */
async function runPieces(em: EntityManager, pieces: readonly Piece[], lockWaitMs?: number): Promise<Outcome[]> {
  const statement = sql<Row>`with ${claimCte}, ${sql.join(pieces.flatMap((p, i) => p.ctes(i, lockWaitMs)))} ${sql.join([...pieces.map((p, i) => p.written(i)), ...pieces.map((p, i) => p.before(i))], sql` union all `)}`;
  const rows = await run(em, statement);
  return pieces.map((_, i) => ({ done: rows.find((r) => r.i === i && r.k === 'w'), stored: rows.find((r) => r.i === i && r.k === 's') }));
}

// Outside a transaction statements run prepared on the pool (their shapes are few; planning one costs as much as running it).
const run = async (em: EntityManager, statement: RawBuilder<Row>) =>
  (em.isInTransaction() ? (await statement.execute(em.getKysely())).rows : await runPrepared(em, statement));

export async function writeRecords(em: EntityManager, sourceId: number, writes: readonly RecordWrite[]): Promise<Written[]> {
  const now = new Date();
  const pieces = writes.map((write) => pieceOf(sourceId, write, now));
  // Every record the same as the stored row it was merged into (a client posting what it posted before):
  // reading the rows back confirms it without the upsert, which would lock them and so write WAL and wait
  // for it to be flushed at commit, for nothing.
  if (pieces.every((p) => p.expectedHash === p.hash)) {
    const rows = await run(em, sql<Row>`${sql.join(pieces.map((p, i) => p.before(i)), sql` union all `)}`);
    const same = pieces.map((p, i) => rows.find((r) => r.i === i && r.content_hash === p.hash && r.status === 'active'));
    if (same.every((r) => r !== undefined)) {
      return same.map((r) => ({ outcome: 'unchanged', edfiId: r.edfi_id, etag: r.etag, changeVersion: Number(r.change_version), dateLastModified: r.date_last_modified }));
    }
  }
  const batcher = em.isInTransaction() ? undefined : batcherOf(em);
  const outcomes = batcher ? await batcher.write(em, pieces) : await runPieces(em, pieces);
  return outcomes.map(({ done, stored }, i) => {
    const row = done ?? stored!;
    if (!done && !(stored && stored.content_hash === pieces[i]!.hash && stored.status === 'active')) throw new WriteConflict(`${writes[i]!.entity} ${(writes[i]!.record as { sourcedId: string }).sourcedId} changed while it was being written`);
    const outcome = done ? (done.created ? 'created' : 'updated') : 'unchanged';
    return { outcome, edfiId: row.edfi_id, etag: row.etag, changeVersion: Number(row.change_version), dateLastModified: row.date_last_modified };
  });
}

/**
 * Most record writes in one statement; and statements of writes under way at once, per pool (one
 * measured best under 20 Ed-Fi writers: bigger statements, less CPU per write; two or four, no faster).
 */
const BATCH_WRITES = 32;
const BATCHES_UNDER_WAY = 1;
/** How long a shared statement waits for a row another transaction holds before its writes go one by one. */
const SHARED_LOCK_WAIT_MS = 100;

interface Job { em: EntityManager; pieces: readonly Piece[]; shape: string; resolve(outcomes: Outcome[]): void; reject(error: unknown): void }

/**
 * Writes of concurrent requests, sent together: while BATCHES_UNDER_WAY statements of a pool run,
 * the writes that arrive wait, and the next statement carries all those of the first one's shape
 * (so statements stay few prepared shapes), up to BATCH_WRITES. Under load that is one round trip,
 * one commit and one WAL flush for a dozen writes; a lone write goes at once. Writes of a row that a
 * statement under way or the one being formed writes wait for the next (two writes of one row in
 * one statement are not allowed; in two concurrent ones they could deadlock). A statement that
 * fails is retried write by write, so one bad write fails only its own request (see #send).
 */
class WriteBatcher {
  readonly #queue: Job[] = [];
  readonly #busy = new Set<string>();
  #underWay = 0;

  write(em: EntityManager, pieces: readonly Piece[]): Promise<Outcome[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ em, pieces, shape: pieces.map((p) => p.shape).join(' '), resolve, reject });
      this.#pump();
    });
  }

  #pump() {
    while (this.#underWay < BATCHES_UNDER_WAY) {
      const jobs = this.#take();
      if (!jobs.length) return;
      this.#underWay++;
      void this.#send(jobs);
    }
  }

  /** The first waiting job whose rows are free, and the waiting jobs of its shape that fit with it. */
  #take(): Job[] {
    const jobs: Job[] = [];
    let size = 0;
    for (let i = 0; i < this.#queue.length;) {
      const job = this.#queue[i]!;
      const fits = (!jobs.length || (job.shape === jobs[0]!.shape && size + job.pieces.length <= BATCH_WRITES))
        && !job.pieces.some((p) => this.#busy.has(p.key));
      if (!fits) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      jobs.push(job);
      size += job.pieces.length;
      for (const p of job.pieces) this.#busy.add(p.key);
    }
    return jobs;
  }

  /**
   * The jobs in one statement that waits at most SHARED_LOCK_WAIT_MS for a row another transaction
   * holds (a run's apply can hold thousands for minutes), so that one such row does not hold up
   * every write behind it. If the statement fails, for that or for one bad write, each job goes
   * again on its own, waiting as long as it takes, outside the slot: the writes behind go on.
   */
  async #send(jobs: Job[]) {
    const free = (job: Job) => {
      for (const p of job.pieces) this.#busy.delete(p.key);
    };
    const release = () => {
      this.#underWay--;
      this.#pump();
    };
    try {
      const outcomes = await runPieces(jobs[0]!.em, jobs.flatMap((j) => j.pieces), SHARED_LOCK_WAIT_MS);
      let at = 0;
      for (const job of jobs) {
        job.resolve(outcomes.slice(at, (at += job.pieces.length)));
        free(job);
      }
      release();
      return;
    } catch {
      release();
    }
    await Promise.all(jobs.map((job) => runPieces(job.em, job.pieces).then(job.resolve, job.reject).finally(() => {
      free(job);
      this.#pump();
    })));
  }
}

const batchers = new WeakMap<object, WriteBatcher>();
/** The batcher of the pool the unit of work's prepared statements go to; none for the ORM's own connections. */
function batcherOf(em: EntityManager): WriteBatcher | undefined {
  const pool = preparedPoolOf(em);
  if (!pool) return undefined;
  let batcher = batchers.get(pool);
  if (!batcher) batchers.set(pool, (batcher = new WriteBatcher()));
  return batcher;
}

export async function writeRecord<E extends EntityName>(em: EntityManager, sourceId: number, entity: E, record: RecordsByEntity[E], expectedHash?: string): Promise<Written> {
  return (await writeRecords(em, sourceId, [{ entity, record, expectedHash }]))[0]!;
}

/** Tombstones one row (a delete through an API door); false when there is no active row. */
export async function tombstoneRow(em: EntityManager, entity: EntityName, sourcedId: string): Promise<boolean> {
  return (await tombstoneRows(em, entity, [sourcedId])) > 0;
}

/** Tombstones the active rows among `ids`, each with a change version of its own; returns how many. */
export async function tombstoneRows(em: EntityManager, entity: EntityName, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const spec = entitySpec(entity);
  const result = await sql`with ${claimCte} update ${sql.table(spec.table)} t set status = 'tobedeleted', date_last_modified = ${new Date()},
      change_version = x.cv, etag = x.cv::text || '-' || left(t.content_hash, 8), input_hash = null
    from (select s.sourced_id, nextval('change_version_seq') as cv from ${sql.table(spec.table)} s, claim
      where s.sourced_id = any(${ids}::text[]) and s.status = 'active') x
    where t.sourced_id = x.sourced_id`.execute(em.getKysely());
  return Number(result.numAffectedRows ?? 0);
}
