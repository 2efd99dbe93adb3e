import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { entitySpecs, type EntitySpec } from './entities.ts';

/**
 * Applying a staged run: set-based SQL inside the caller's transaction. Only rows whose content
 * hash differs are written; each written row gets one new change version (from the global
 * sequence), an etag derived from it and the run's timestamp as dateLastModified.
 */

export interface TombstonePlan {
  runId: number;
  sourceId: number;
  /** Entities whose unseen rows are tombstoned: a complete bulk run's scope, else empty. */
  bulkScope: readonly string[];
}

/** The source's active rows of one entity, with `doomed` true for those the plan tombstones. */
function doomedRows(spec: EntitySpec, plan: TombstonePlan): RawBuilder<unknown> {
  const bulk = plan.bulkScope.includes(spec.name);
  const unseen = bulk
    ? sql`left join (select distinct unnest(sourced_ids) as id from sync_seen
        where run_id = ${plan.runId} and entity = ${spec.name}) seen on seen.id = t.sourced_id`
    : sql``;
  return sql`
    select t.sourced_id, (del.sourced_id is not null ${bulk ? sql`or seen.id is null` : sql``}) as doomed
    from ${sql.table(spec.table)} t
    left join (select distinct sourced_id from sync_stage
      where run_id = ${plan.runId} and entity = ${spec.name} and action = 'delete') del on del.sourced_id = t.sourced_id
    ${unseen}
    where t.source_id = ${plan.sourceId} and t.status = 'active'`;
}

/** Rows each entity would tombstone, and how many active rows the source has for it. */
export async function tombstoneShares(em: EntityManager, plan: TombstonePlan) {
  const db = em.getKysely();
  const shares: { entity: string; doomed: number; active: number }[] = [];
  for (const spec of entitySpecs) {
    const { rows } = await sql<{ doomed: string; active: string }>`
      select count(*) filter (where doomed) as doomed, count(*) as active from (${doomedRows(spec, plan)}) d`.execute(db);
    shares.push({ entity: spec.name, doomed: Number(rows[0]!.doomed), active: Number(rows[0]!.active) });
  }
  return shares;
}

const etagOf = (cv: RawBuilder<unknown>, hash: RawBuilder<unknown>) => sql`${cv}::text || '-' || left(${hash}, 8)`;

/** Upserts what the run created or changed, entity by entity in dependency order. */
export async function applyUpserts(em: EntityManager, runId: number, sourceId: number, now: Date) {
  const db = em.getKysely();
  const bulkLoaded: string[] = [];
  for (const spec of entitySpecs) {
    const pending = await stagedRows(db, runId, spec.name);
    if (pending === 0) continue;
    const tables = [spec.table, ...spec.children.map((c) => c.table)];
    const bulk = await withBulkLoadFor(db, tables, pending, async () => {
      await upsertEntity(db, spec, runId, sourceId, now);
      for (const child of spec.children) {
        await sql`delete from ${sql.table(child.table)} c using sync_stage s
          where s.run_id = ${runId} and s.entity = ${spec.name} and s.action = 'update'
            and c.user_sourced_id = s.sourced_id`.execute(db);
        await sql`insert into ${sql.table(child.table)} (user_sourced_id, ${sql.join(child.columns.map((c) => sql.ref(c)))})
          select s.sourced_id, ${sql.join(child.columns.map((c) => sql.ref(`c.${c}`)))}
          from sync_stage s
            cross join lateral jsonb_populate_recordset(null::${sql.table(child.table)}, s.record->${sql.lit(child.field)}) c
          where s.run_id = ${runId} and s.entity = ${spec.name} and s.action in ('create', 'update')`.execute(db);
      }
    });
    if (bulk) bulkLoaded.push(...tables);
  }
  return bulkLoaded;
}

async function stagedRows(db: Kysely<any>, runId: number, entity: string) {
  const { rows } = await sql<{ n: string }>`select count(*) as n from sync_stage
    where run_id = ${runId} and entity = ${entity} and action in ('create', 'update')`.execute(db);
  return Number(rows[0]!.n);
}

async function upsertEntity(db: Kysely<any>, spec: EntitySpec, runId: number, sourceId: number, now: Date) {
  const table = sql.table(spec.table);
  const updatable = spec.columns.filter((c) => c !== 'sourced_id');
  await sql`
    insert into ${table} as t (edfi_id, status, date_last_modified, etag, change_version, content_hash, source_id,
      ${sql.join(spec.columns.map((c) => sql.ref(c)))})
    -- Only creates carry a new Ed-Fi id; an update keeps the stored one (edfi_id is not in the SET).
    select coalesce(r.edfi_id, gen_random_uuid()), 'active', ${now}, ${etagOf(sql.ref('x.cv'), sql.ref('x.content_hash'))}, x.cv, x.content_hash, ${sourceId},
      ${sql.join(spec.columns.map((c) => sql.ref(`r.${c}`)))}
    from (
      select s.record, s.content_hash, nextval('change_version_seq') as cv
      from sync_stage s
      where s.run_id = ${runId} and s.entity = ${spec.name} and s.action in ('create', 'update')
    ) x cross join lateral jsonb_populate_record(null::${table}, x.record) r
    on conflict (sourced_id) do update set
      status = excluded.status, date_last_modified = excluded.date_last_modified, etag = excluded.etag,
      change_version = excluded.change_version, content_hash = excluded.content_hash, source_id = excluded.source_id,
      ${sql.join(updatable.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`))}
    where t.content_hash is distinct from excluded.content_hash or t.status <> 'active'
      or t.source_id <> excluded.source_id`.execute(db);
}

/**
 * When a load is large next to the table (a first import), maintaining every index and foreign
 * key row by row costs several times the insert itself. Then the secondary indexes and foreign
 * keys of the tables are dropped and rebuilt in bulk around the load, inside the same transaction,
 * so readers never see them missing; the tables are locked for writes meanwhile.
 */
async function withBulkLoadFor(db: Kysely<any>, tables: string[], rows: number, load: () => Promise<void>): Promise<boolean> {
  const { rows: sizes } = await sql<{ n: number }>`
    select coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 as n from pg_class c where c.oid = ${tables[0]!}::regclass`.execute(db);
  if (rows < 20_000 || rows < sizes[0]!.n) {
    await load();
    return false;
  }

  const { rows: indexes } = await sql<{ name: string; def: string }>`
    select i.relname as name, pg_get_indexdef(x.indexrelid) as def
    from pg_index x join pg_class i on i.oid = x.indexrelid
    where x.indrelid = any(${tables}::regclass[])
      and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`.execute(db);
  const { rows: foreignKeys } = await sql<{ tbl: string; name: string; def: string }>`
    select conrelid::regclass::text as tbl, conname as name, pg_get_constraintdef(oid) as def
    from pg_constraint where contype = 'f' and conrelid = any(${tables}::regclass[])`.execute(db);
  for (const fk of foreignKeys) await sql`alter table ${sql.raw(fk.tbl)} drop constraint ${sql.ref(fk.name)}`.execute(db);
  for (const ix of indexes) await sql`drop index ${sql.ref(ix.name)}`.execute(db);
  await load();
  for (const ix of indexes) await sql.raw(ix.def).execute(db);
  for (const fk of foreignKeys) await sql`alter table ${sql.raw(fk.tbl)} add constraint ${sql.ref(fk.name)} ${sql.raw(fk.def)}`.execute(db);
  return true;
}

/** Tombstones explicit delta deletes and, for a complete bulk run, every unseen row in scope. */
export async function applyTombstones(em: EntityManager, plan: TombstonePlan, now: Date, entities: readonly string[]) {
  const db = em.getKysely();
  const tombstoned: Record<string, number> = {};
  for (const spec of [...entitySpecs].reverse()) {
    if (!entities.includes(spec.name)) continue;
    const table = sql.table(spec.table);
    const result = await sql`
      update ${table} t set status = 'tobedeleted', date_last_modified = ${now}, change_version = x.cv,
        etag = ${etagOf(sql.ref('x.cv'), sql.ref('t.content_hash'))}
      from (select d.sourced_id, nextval('change_version_seq') as cv from (${doomedRows(spec, plan)}) d where d.doomed) x
      where t.sourced_id = x.sourced_id`.execute(db);
    tombstoned[spec.name] = Number(result.numAffectedRows ?? 0);
  }
  return tombstoned;
}
