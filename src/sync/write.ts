import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { z } from 'zod';
import { entitySpec, type EntitySpec } from './entities.ts';
import { roleRecord, userRecord, type EntityName, type RecordsByEntity } from './records.ts';
import { storedForm } from './stage.ts';
import { uuidv7 } from './uuid.ts';

/**
 * Writing single records, for the API doors (one unit of work per request), by the engine's rules:
 * the same content hash as a run computes, so a write that changes nothing changes nothing (no new
 * change version, etag or timestamp); a change takes one version from the global sequence. Rows
 * keep their owning source: the API edits what a sync brought, and the next run of that source
 * compares against the edit (the stored input hash is cleared). Runs in the caller's transaction.
 */

export interface Written {
  outcome: 'created' | 'updated' | 'unchanged';
  edfiId: string;
  etag: string;
  changeVersion: number;
  dateLastModified: Date;
}

/** A person written through Ed-Fi exists before any school association gives them a role. */
const schemas: Partial<Record<EntityName, z.ZodType>> = { user: userRecord.extend({ roles: z.array(roleRecord) }) };

const snakeKeys = (spec: EntitySpec, record: Record<string, unknown>) =>
  Object.fromEntries(spec.fields.map((f, i) => [spec.columns[i]!, record[f] ?? null]));

interface Row { edfi_id: string; etag: string; change_version: string; date_last_modified: Date; created?: boolean }

const written = (outcome: Written['outcome'], row: Row): Written => ({
  outcome, edfiId: row.edfi_id, etag: row.etag, changeVersion: Number(row.change_version), dateLastModified: row.date_last_modified,
});

export async function writeRecord<E extends EntityName>(em: EntityManager, sourceId: number, entity: E, input: RecordsByEntity[E]): Promise<Written> {
  const spec = entitySpec(entity);
  const record = (schemas[entity] ?? spec.schema).parse(input) as Record<string, unknown>;
  const { content } = storedForm(spec, record);
  const db = em.getKysely();
  const table = sql.table(spec.table);
  const columns = spec.columns.map((c) => sql.ref(c));
  const updatable = spec.columns.filter((c) => c !== 'sourced_id');
  const { rows } = await sql<Row>`
    insert into ${table} as t (edfi_id, status, date_last_modified, etag, change_version, content_hash, input_hash, source_id, ${sql.join(columns)})
    select ${uuidv7()}::uuid, 'active', ${new Date()}, x.cv::text || '-' || left(${content}, 8), x.cv, ${content}, null, ${sourceId},
      ${sql.join(spec.columns.map((c) => sql.ref(`r.${c}`)))}
    from jsonb_populate_record(null::${table}, ${JSON.stringify(snakeKeys(spec, record))}::jsonb) r, (select nextval('change_version_seq') as cv) x
    on conflict (sourced_id) do update set
      status = 'active', date_last_modified = excluded.date_last_modified, etag = excluded.etag, change_version = excluded.change_version,
      content_hash = excluded.content_hash, input_hash = null,
      ${sql.join(updatable.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`))}
    where t.content_hash is distinct from excluded.content_hash or t.status <> 'active'
    returning t.edfi_id, t.etag, t.change_version, t.date_last_modified, (t.xmax = 0) as created`.execute(db);
  const row = rows[0];
  if (!row) {
    const { rows: current } = await sql<Row>`select edfi_id, etag, change_version, date_last_modified from ${table}
      where sourced_id = ${record.sourcedId as string}`.execute(db);
    return written('unchanged', current[0]!);
  }
  for (const child of spec.children) {
    if (!row.created) await sql`delete from ${sql.table(child.table)} where user_sourced_id = ${record.sourcedId as string}`.execute(db);
    const items = ((record[child.field] as Record<string, unknown>[] | undefined) ?? []).map((item) => ({
      user_sourced_id: record.sourcedId,
      ...Object.fromEntries(child.fields.map((f, i) => [child.columns[i]!, item[f] ?? null])),
    }));
    if (items.length === 0) continue;
    const cols = ['user_sourced_id', ...child.columns].map((c) => sql.ref(c));
    await sql`insert into ${sql.table(child.table)} (${sql.join(cols)})
      select ${sql.join(['user_sourced_id', ...child.columns].map((c) => sql.ref(`r.${c}`)))}
      from jsonb_populate_recordset(null::${sql.table(child.table)}, ${JSON.stringify(items)}::jsonb) r`.execute(db);
  }
  return written(row.created ? 'created' : 'updated', row);
}

/** Tombstones one row (a delete through an API door); false when there is no active row. */
export async function tombstoneRow(em: EntityManager, entity: EntityName, sourcedId: string): Promise<boolean> {
  const spec = entitySpec(entity);
  const result = await sql`update ${sql.table(spec.table)} t set status = 'tobedeleted', date_last_modified = ${new Date()},
      change_version = x.cv, etag = x.cv::text || '-' || left(t.content_hash, 8), input_hash = null
    from (select nextval('change_version_seq') as cv) x
    where t.sourced_id = ${sourcedId} and t.status = 'active'`.execute(em.getKysely());
  return Number(result.numAffectedRows ?? 0) > 0;
}
