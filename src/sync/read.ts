import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { runLookup } from '../db/prepared.ts';
import { entitySpec, type EntitySpec } from './entities.ts';
import type { EntityName } from './records.ts';

/**
 * Stored rows read back as canonical records (the inverse of staging), for whatever needs the
 * current state in canonical form: merging a delta into it, or exporting it. Built in SQL so a
 * page of records is one query.
 */

export interface StoredRecord {
  record: Record<string, unknown>;
  status: 'active' | 'tobedeleted';
  /** `YYYY-MM-DDTHH:MM:SS.sssZ` */
  dateLastModified: string;
  sourceId: number;
  /** The row's content hash (a writer that merges into the record passes it back to detect a concurrent change). */
  contentHash: string;
}

function object(fields: string[], columns: string[], alias: string): RawBuilder<unknown> {
  const pairs = fields.flatMap((f, i) => [sql.lit(f), sql.ref(`${alias}.${columns[i]}`)]);
  return sql`jsonb_strip_nulls(jsonb_build_object(${sql.join(pairs)}))`;
}

function recordOf(spec: EntitySpec): RawBuilder<unknown> {
  const own = object(spec.fields, spec.columns, 't');
  const children = spec.children.map(
    (child) => sql`coalesce((select jsonb_build_object(${sql.lit(child.field)}, jsonb_agg(${object(child.fields, child.columns, 'c')} order by c.id))
      from ${sql.table(child.table)} c where c.user_sourced_id = t.sourced_id having count(*) > 0), '{}'::jsonb)`,
  );
  return sql.join([own, ...children], sql` || `);
}

// Built once per entity: an API write reads its stored record on every request.
const columns = new Map<EntitySpec, RawBuilder<unknown>>();
const columnsOf = (spec: EntitySpec) => {
  let built = columns.get(spec);
  if (!built) {
    columns.set(spec, (built = sql`${recordOf(spec)} as record, t.status, t.source_id as "sourceId", t.content_hash as "contentHash",
      to_char(t.date_last_modified at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "dateLastModified"`));
  }
  return built;
};

/** The stored records of the given ids (any status); missing ids are simply absent. */
export async function readRecords(em: EntityManager, entity: EntityName, ids: readonly string[]): Promise<Map<string, StoredRecord>> {
  if (ids.length === 0) return new Map();
  const spec = entitySpec(entity);
  const query = sql<StoredRecord>`select ${columnsOf(spec)} from ${sql.table(spec.table)} t where t.sourced_id = any(${ids}::text[])`;
  // One shape per entity: prepared on the pool unless the caller is inside a transaction.
  const rows = await runLookup(em, query);
  return new Map(rows.map((r) => [r.record.sourcedId as string, r]));
}

/** The stored record (any status) whose sourcedId the subquery names, if any. */
export async function readRecordOf(em: EntityManager, entity: EntityName, sourcedId: RawBuilder<unknown>): Promise<StoredRecord | undefined> {
  const spec = entitySpec(entity);
  return (await runLookup(em, sql<StoredRecord>`select ${columnsOf(spec)} from ${sql.table(spec.table)} t where t.sourced_id = ${sourcedId}`))[0];
}

export interface ScanOptions {
  /** Only rows changed after this instant, tombstones included; otherwise active rows only. */
  since?: Date;
  pageSize?: number;
}

/** Every stored record of an entity, page by page in sourcedId order (keyset paging, bounded memory). */
export async function* scanRecords(em: EntityManager, entity: EntityName, options: ScanOptions = {}): AsyncGenerator<StoredRecord[]> {
  const spec = entitySpec(entity);
  const where = options.since ? sql`t.date_last_modified > ${options.since}` : sql`t.status = 'active'`;
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: StoredRecord[] } = await sql<StoredRecord>`select ${columnsOf(spec)} from ${sql.table(spec.table)} t
      where ${where} and (${after}::text is null or t.sourced_id > ${after})
      order by t.sourced_id limit ${options.pageSize ?? 5000}`.execute(em.getKysely());
    if (rows.length === 0) return;
    yield rows;
    after = rows.at(-1)!.record.sourcedId as string;
  }
}
