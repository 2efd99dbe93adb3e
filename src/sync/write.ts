import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import { runPrepared } from '../db/prepared.ts';
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
 * own and cost one round trip. A caller that merged its record into the stored one passes the hash
 * it read; if the row changed meanwhile, nothing is written and WriteConflict says to read again.
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

export async function writeRecords(em: EntityManager, sourceId: number, writes: readonly RecordWrite[]): Promise<Written[]> {
  const now = new Date();
  const ctes: RawBuilder<unknown>[] = [];
  const written: RawBuilder<unknown>[] = [];
  const before: RawBuilder<unknown>[] = [];
  const hashes: string[] = [];
  writes.forEach((write, i) => {
    const spec = entitySpec(write.entity);
    const record = (schemas[write.entity] ?? spec.schema).parse(write.record) as Record<string, unknown>;
    const id = record.sourcedId as string;
    const { content } = storedForm(spec, record);
    hashes.push(content);
    const { table, columns, fromRecord, updates } = fragmentsOf(spec);
    const w = sql.raw(`w${i}`);
    const guard = write.expectedHash === undefined ? sql`` : sql`and t.content_hash = ${write.expectedHash}`;
    ctes.push(sql`${w} as (
      insert into ${table} as t (edfi_id, status, date_last_modified, etag, change_version, content_hash, input_hash, source_id, ${columns})
      select ${uuidv7()}::uuid, 'active', ${now}, x.cv::text || '-' || left(${content}, 8), x.cv, ${content}, null, ${sourceId}, ${fromRecord}
      from jsonb_populate_record(null::${table}, ${JSON.stringify(columnsOf(spec, record))}::jsonb) r, (select nextval('change_version_seq') as cv) x
      on conflict (sourced_id) do update set
        status = 'active', date_last_modified = excluded.date_last_modified, etag = excluded.etag, change_version = excluded.change_version,
        content_hash = excluded.content_hash, input_hash = null, ${updates}
      where (t.content_hash is distinct from excluded.content_hash or t.status <> 'active') ${guard}
      returning t.edfi_id, t.etag, t.change_version, t.date_last_modified, t.content_hash, t.status, (t.xmax = 0) as created)`);
    spec.children.forEach((child, c) => {
      const items = ((record[child.field] as Record<string, unknown>[] | undefined) ?? []).map((item) => ({
        user_sourced_id: id,
        ...Object.fromEntries(child.fields.map((f, j) => [child.columns[j]!, item[f] ?? null])),
      }));
      const frag = childFragmentsOf(child);
      // Replaced only when the parent was written; the statement's snapshot keeps the new rows out of the delete.
      ctes.push(sql`${sql.raw(`d${i}_${c}`)} as (delete from ${frag.table} where user_sourced_id = ${id}
        and exists (select 1 from ${w} where not ${w}.created))`);
      if (items.length) {
        ctes.push(sql`${sql.raw(`n${i}_${c}`)} as (insert into ${frag.table} (${frag.columns})
          select ${frag.fromRecord} from jsonb_populate_recordset(null::${frag.table}, ${JSON.stringify(items)}::jsonb) r
          where exists (select 1 from ${w}))`);
      }
    });
    written.push(sql`select ${i}::int as i, 'w' as k, * from ${w}`);
    // The row as it was before this statement: what an unchanged (or conflicting) write answers with.
    before.push(sql`select ${i}::int as i, 's' as k, edfi_id, etag, change_version, date_last_modified, content_hash, status, false as created from ${table} where sourced_id = ${id}`);
  });
  // Outside a transaction statements run prepared on the pool (their shapes are few; planning one costs as much as running it).
  const run = async (statement: RawBuilder<Row>) => (em.isInTransaction() ? (await statement.execute(em.getKysely())).rows : await runPrepared(em, statement));
  // Every record the same as the stored row it was merged into (a client posting what it posted before):
  // reading the rows back confirms it without the upsert, which would lock them and so write WAL and wait
  // for it to be flushed at commit, for nothing.
  if (writes.every((w, i) => w.expectedHash === hashes[i])) {
    const rows = await run(sql<Row>`${sql.join(before, sql` union all `)}`);
    const same = writes.map((_, i) => rows.find((r) => r.i === i && r.content_hash === hashes[i] && r.status === 'active'));
    if (same.every((r) => r !== undefined)) {
      return same.map((r) => ({ outcome: 'unchanged', edfiId: r.edfi_id, etag: r.etag, changeVersion: Number(r.change_version), dateLastModified: r.date_last_modified }));
    }
  }
  const rows = await run(sql<Row>`with ${sql.join(ctes)} ${sql.join([...written, ...before], sql` union all `)}`);
  return writes.map((_, i) => {
    const done = rows.find((r) => r.i === i && r.k === 'w');
    const stored = rows.find((r) => r.i === i && r.k === 's');
    const row = done ?? stored!;
    if (!done && !(stored && stored.content_hash === hashes[i] && stored.status === 'active')) throw new WriteConflict(`${writes[i]!.entity} ${(writes[i]!.record as { sourcedId: string }).sourcedId} changed while it was being written`);
    const outcome = done ? (done.created ? 'created' : 'updated') : 'unchanged';
    return { outcome, edfiId: row.edfi_id, etag: row.etag, changeVersion: Number(row.change_version), dateLastModified: row.date_last_modified };
  });
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
  const result = await sql`update ${sql.table(spec.table)} t set status = 'tobedeleted', date_last_modified = ${new Date()},
      change_version = x.cv, etag = x.cv::text || '-' || left(t.content_hash, 8), input_hash = null
    from (select sourced_id, nextval('change_version_seq') as cv from ${sql.table(spec.table)}
      where sourced_id = any(${ids}::text[]) and status = 'active') x
    where t.sourced_id = x.sourced_id`.execute(em.getKysely());
  return Number(result.numAffectedRows ?? 0);
}
