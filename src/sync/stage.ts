import { hash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { BloomFilter } from './bloom.ts';
import { copyLine, copyValue, type RunConnection } from './copy.ts';
import { entitySpecs, type EntitySpec } from './entities.ts';
import type { IssueLog } from './issues.ts';
import { tombstoneRecord } from './records.ts';
import { uuidv7 } from './uuid.ts';

/**
 * Staging: turns each batch of canonical records into rows of the run's own UNLOGGED stage tables
 * (typed like the live tables, created per run, dropped when it ends). Each record is validated,
 * put in column form and hashed; one query per batch reads the stored hashes, so only new,
 * changed or deleted rows are copied in (COPY protocol). `sync_seen` gets one row per batch with
 * every id, for bulk tombstoning. Nothing in the shared schema changes here.
 */

/**
 * The record as stored, in COPY text: its own columns in spec order (absent fields null), and each
 * child collection's rows sorted, since a source may list them in another order and that is not a
 * change. The content hash is taken over exactly this text.
 */
export function storedForm(spec: EntitySpec, record: Record<string, unknown>) {
  const row = copyLine(spec.fields.map((f) => record[f]));
  let hashed = row;
  const children = spec.children.map((child) => {
    const items = (record[child.field] as Record<string, unknown>[] | undefined) ?? [];
    const lines = items.map((item) => copyLine(child.fields.map((f) => item[f])));
    if (lines.length > 1) lines.sort();
    // A child line always holds tabs, so an empty line cannot be mistaken for one.
    hashed += `\n${lines.join('')}`;
    return lines;
  });
  return { row, children, content: hash('sha1', hashed, 'base64url') };
}

/** Names of one run's stage tables. */
export const stageTable = (runId: number, table: string) => `stage_${runId}_${table}`;

/** Columns of an entity's stage table: what the apply step needs besides the record's own. */
export const stageColumns = (spec: EntitySpec) => ['action', 'content_hash', 'input_hash', 'edfi_id', 'line', ...spec.columns];

/** Creates the run's stage tables with the live tables' column types and no constraints. */
export async function createStageTables(em: EntityManager, runId: number) {
  const db = em.getKysely();
  // Run ids are never reused, so a table of this name can only be left over from a lost database.
  await dropStageTables(em, runId);
  for (const spec of entitySpecs) {
    await sql`create unlogged table ${sql.table(stageTable(runId, spec.table))} as
      select null::text as action, content_hash, input_hash, edfi_id, null::int as line, ${sql.join(spec.columns.map((c) => sql.ref(c)))}
      from ${sql.table(spec.table)} with no data`.execute(db);
    for (const child of spec.children) {
      await sql`create unlogged table ${sql.table(stageTable(runId, child.table))} as
        select user_sourced_id, ${sql.join(child.columns.map((c) => sql.ref(c)))}
        from ${sql.table(child.table)} with no data`.execute(db);
    }
  }
}

export async function dropStageTables(em: EntityManager, runId: number) {
  const tables = entitySpecs.flatMap((s) => [s.table, ...s.children.map((c) => c.table)]).map((t) => stageTable(runId, t));
  await sql`drop table if exists ${sql.join(tables.map((t) => sql.table(t)))}`.execute(em.getKysely());
  await sql`delete from sync_seen where run_id = ${runId}`.execute(em.getKysely());
}

/** A text[] parameter sent as JSON: serialising thousands of ids natively beats pg's array encoder. */
const jsonTextArray = (values: (string | null)[]) => sql`array(select json_array_elements_text(${JSON.stringify(values)}::json))`;

interface Stored {
  content_hash: string;
  status: string;
  source_id: number;
}

export interface EntityTally {
  /** Ids written to `sync_seen`, repeats and ids owned elsewhere included. */
  seen: number;
  /** Records refused before staging (invalid, owned elsewhere). */
  refused: number;
  /** Of those, ids refused after they were recorded in `sync_seen` (owned elsewhere, or invalid). */
  seenRefused: number;
  /** Seen ids that matched an active row of this source (for counting tombstones without a scan). */
  matchedActive: number;
  /** Staged rows by action. */
  created: number;
  updated: number;
  deleted: number;
}

export interface StageContext {
  runId: number;
  sourceId: number;
  tally: Map<string, EntityTally>;
  /** Every id of the run, to spot repeats; ids it flags are checked exactly later. */
  seenIds: BloomFilter;
  maybeRepeated: Map<string, Set<string>>;
  issues: IssueLog;
  /** The file each entity came from, for file sources. */
  files: Map<string, string>;
}

export function tallyOf(ctx: StageContext, entity: string): EntityTally {
  let t = ctx.tally.get(entity);
  if (!t) ctx.tally.set(entity, (t = { seen: 0, refused: 0, seenRefused: 0, matchedActive: 0, created: 0, updated: 0, deleted: 0 }));
  return t;
}

function reportInvalid(
  ctx: StageContext, spec: EntitySpec, record: unknown, line: number | null | undefined,
  issues: readonly { path: PropertyKey[]; message: string }[],
) {
  const raw = (record as { sourcedId?: unknown } | null)?.sourcedId;
  for (const issue of issues) {
    ctx.issues.add({
      entity: spec.name, sourcedId: typeof raw === 'string' ? raw : null, field: issue.path.join('.') || null,
      file: ctx.files.get(spec.name) ?? null, line: line ?? null,
      severity: 'error', code: 'invalid_value', message: issue.message,
    });
  }
}

/**
 * One batch as the source sent it: ids in order with their input hashes and records (both null
 * for a tombstone). Records stay unvalidated until the database says they differ from what it
 * last stored: an unchanged source costs a JSON serialisation and a hash per record, nothing more.
 */
export interface PreparedBatch {
  ids: string[];
  inputs: (string | null)[];
  /** null for a tombstone, `invalid` for a record the source itself found invalid. */
  records: (Record<string, unknown> | null | 'invalid')[];
  lines: (number | null)[];
  /** Further copies of ids already in this batch. */
  repeated: string[];
}

/**
 * A copy of `s` that holds on to nothing else. V8 cuts a substring as a view into the text it came
 * from, so an id parsed out of a 1 MB chunk of CSV and kept for the whole run kept that chunk alive:
 * the ids a large import keeps (Bloom-filter suspects) held on to ≈100 MB of CSV text.
 */
const detached = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

export function prepareBatch(
  ctx: StageContext, spec: EntitySpec, records: readonly unknown[], lines?: readonly (number | null)[],
  invalid: readonly { sourcedId: string; line: number | null }[] = [],
): PreparedBatch | null {
  const tally = tallyOf(ctx, spec.name);
  const batch: PreparedBatch = { ids: [], inputs: [], records: [], lines: [], repeated: [] };
  // The batch's own ids, collected only once the Bloom filter suspects a repeat.
  let inBatch: Set<string> | undefined;
  for (let r = 0; r < records.length; r++) {
    const record = records[r];
    const id = (record as { sourcedId?: unknown } | null)?.sourcedId;
    const tombstone = (record as { status?: unknown } | null)?.status === 'tobedeleted';
    if (tombstone || typeof id !== 'string' || id === '') {
      const parsed = tombstone ? tombstoneRecord.safeParse(record) : spec.schema.safeParse(record);
      if (!parsed.success) {
        tally.refused++;
        reportInvalid(ctx, spec, record, lines?.[r], parsed.error.issues);
        continue;
      }
    }
    const key = id as string;
    tally.seen++;
    if (ctx.seenIds.add(key, spec.name)) {
      // Repeats are judged exactly over the whole run once every batch is in (see resolve.ts).
      let maybe = ctx.maybeRepeated.get(spec.name);
      if (!maybe) ctx.maybeRepeated.set(spec.name, (maybe = new Set()));
      maybe.add(detached(key));
      inBatch ??= new Set(batch.ids);
      if (inBatch.has(key)) {
        batch.repeated.push(key);
        continue;
      }
    }
    inBatch?.add(key);
    batch.ids.push(key);
    batch.inputs.push(tombstone ? null : hash('sha1', JSON.stringify(record), 'base64url'));
    batch.records.push(tombstone ? null : (record as Record<string, unknown>));
    batch.lines.push(lines?.[r] ?? null);
  }
  // Records the source rejected still exist there: staged as `invalid`, they count as sent (not
  // tombstoned) and references to them resolve, so one bad row is reported once, not once per
  // record that points at it. Only all-or-nothing runs send them, and those apply nothing then.
  for (const { sourcedId, line } of invalid) {
    tally.seen++;
    batch.ids.push(sourcedId);
    batch.inputs.push(null);
    batch.records.push('invalid');
    batch.lines.push(line);
  }
  return batch.ids.length === 0 ? null : batch;
}

export async function writeBatch(em: EntityManager, copy: RunConnection, ctx: StageContext, spec: EntitySpec, batch: PreparedBatch): Promise<void> {
  const tally = tallyOf(ctx, spec.name);
  // One round trip: record every id as seen, and compare hashes in the database so that only
  // rows needing work come back (none, for an unchanged batch), by position in the batch. Ids
  // refused below for belonging to another source are in sync_seen too; tombstoning only looks
  // at this source's rows.
  const { rows } = await sql<Stored & { n: number | null; matched: number | null }>`
    with input as (
      select * from unnest(${jsonTextArray(batch.ids)}, ${jsonTextArray(batch.inputs)}) with ordinality as i(id, hash, n)
    ), seen as (
      insert into sync_seen (run_id, entity, sourced_ids)
      values (${ctx.runId}, ${spec.name}, (select array_agg(id) from input) || ${jsonTextArray(batch.repeated)})
    ), joined as (
      select i.n, i.hash, t.sourced_id, t.content_hash, t.input_hash, t.status, t.source_id
      from input i left join ${sql.table(spec.table)} t on t.sourced_id = i.id
    )
    select n::int, content_hash, status, source_id, null::int as matched from joined
    where sourced_id is null or hash is null or input_hash is distinct from hash or status <> 'active'
      or source_id <> ${ctx.sourceId}
    union all
    select null, null, null, null, count(*)::int from joined where status = 'active' and source_id = ${ctx.sourceId}`.execute(em.getKysely());

  let lines = '';
  const childLines = spec.children.map(() => '');
  const now = Date.now();
  for (const r of rows) {
    if (r.matched !== null) {
      tally.matchedActive += r.matched;
      continue;
    }
    const i = r.n! - 1;
    const id = batch.ids[i]!;
    const record = batch.records[i];
    const existing = r.status === null ? undefined : r;
    const live = existing?.status === 'active';
    if (record === 'invalid') {
      lines += copyLine(['invalid', null, null, null, batch.lines[i], id, ...spec.columns.slice(1).map(() => null)]);
      continue;
    }
    if (live && existing.source_id !== ctx.sourceId) {
      tally.refused++;
      tally.seenRefused++;
      ctx.issues.add({
        entity: spec.name, sourcedId: id, field: 'sourcedId', file: ctx.files.get(spec.name) ?? null, line: batch.lines[i],
        severity: 'error', code: 'owned_by_other_source',
        message: `${spec.name} ${id} belongs to another source; it is left unchanged`,
      });
      continue;
    }
    if (!record) {
      if (!live) continue;
      tally.deleted++;
      lines += copyLine(['delete', null, null, null, batch.lines[i], id, ...spec.columns.slice(1).map(() => null)]);
      continue;
    }
    const parsed = spec.schema.safeParse(record);
    if (!parsed.success) {
      tally.refused++;
      tally.seenRefused++;
      reportInvalid(ctx, spec, record, batch.lines[i], parsed.error.issues);
      continue;
    }
    const stored = storedForm(spec, parsed.data as Record<string, unknown>);
    // Sent differently but the same content (fields reordered, say): nothing to write.
    if (live && existing.content_hash === stored.content) continue;
    tally[existing ? 'updated' : 'created']++;
    lines += `${existing ? 'update' : 'create'}\t${stored.content}\t${batch.inputs[i]}\t${uuidv7(now)}\t${copyValue(batch.lines[i])}\t${stored.row}`;
    const idText = copyValue(id);
    stored.children.forEach((child, c) => {
      for (const line of child) childLines[c] += `${idText}\t${line}`;
    });
  }
  await copy.copy(stageTable(ctx.runId, spec.table), stageColumns(spec), lines);
  for (const [i, child] of spec.children.entries()) {
    await copy.copy(stageTable(ctx.runId, child.table), ['user_sourced_id', ...child.columns], childLines[i]!);
  }
}
