import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { entitySpecs, type EntitySpec } from './entities.ts';
import { stageTable } from './stage.ts';

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

/** The source's active rows of one entity that the plan tombstones (joins, so both sides hash). */
function doomedRows(spec: EntitySpec, plan: TombstonePlan): RawBuilder<unknown> {
  const bulk = plan.bulkScope.includes(spec.name);
  const unseen = bulk
    ? sql`left join (select distinct unnest(sourced_ids) as id from sync_seen
        where run_id = ${plan.runId} and entity = ${spec.name}) seen on seen.id = t.sourced_id`
    : sql``;
  return sql`select t.sourced_id from ${sql.table(spec.table)} t
    left join (select distinct sourced_id from ${sql.table(stageTable(plan.runId, spec.table))}
      where action = 'delete') del on del.sourced_id = t.sourced_id
    ${unseen}
    where t.source_id = ${plan.sourceId} and t.status = 'active'
      and (del.sourced_id is not null ${bulk ? sql`or seen.id is null` : sql``})`;
}

/** Active rows of the source per entity: with what a run saw, enough to count its tombstones. */
export async function activeRows(em: EntityManager, sourceId: number): Promise<Map<string, number>> {
  const parts = entitySpecs.map(
    (spec) => sql`select ${spec.name}::text as entity, count(*)::int as n from ${sql.table(spec.table)}
      where source_id = ${sourceId} and status = 'active'`,
  );
  const { rows } = await sql<{ entity: string; n: number }>`${sql.join(parts, sql` union all `)}`.execute(em.getKysely());
  return new Map(rows.map((r) => [r.entity, r.n]));
}

/** Exact tombstone counts by scanning; for runs whose tallies cannot be trusted (repeated ids). */
export async function countTombstones(em: EntityManager, plan: TombstonePlan, entity: string): Promise<number> {
  const spec = entitySpecs.find((s) => s.name === entity)!;
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from (${doomedRows(spec, plan)}) d`.execute(em.getKysely());
  return rows[0]!.n;
}

const etagOf = (cv: RawBuilder<unknown>, hash: RawBuilder<unknown>) => sql`${cv}::text || '-' || left(${hash}, 8)`;

/** Upserts what the run created or changed, entity by entity in dependency order. */
export async function applyUpserts(em: EntityManager, runId: number, sourceId: number, now: Date, pending: Map<string, number>) {
  const db = em.getKysely();
  const bulkLoaded: string[] = [];
  /** Tables the run grew by a good share: their planner statistics are stale (a small first import has none at all). */
  const grown: string[] = [];
  for (const spec of entitySpecs) {
    const rows = pending.get(spec.name) ?? 0;
    if (rows === 0) continue;
    const tables = [spec.table, ...spec.children.map((c) => c.table)];
    const stage = sql.table(stageTable(runId, spec.table));
    const bulk = await withBulkLoadFor(db, tables, rows, async (intoEmpty) => {
      await upsertEntity(db, spec, runId, sourceId, now, intoEmpty);
      for (const child of spec.children) {
        await sql`delete from ${sql.table(child.table)} c using ${stage} s
          where s.action = 'update' and c.user_sourced_id = s.sourced_id`.execute(db);
        const cols = sql.join(child.columns.map((c) => sql.ref(c)));
        await sql`insert into ${sql.table(child.table)} (user_sourced_id, ${cols})
          select c.user_sourced_id, ${sql.join(child.columns.map((c) => sql.ref(`c.${c}`)))}
          from ${sql.table(stageTable(runId, child.table))} c join ${stage} s on s.sourced_id = c.user_sourced_id
          where s.action in ('create', 'update')`.execute(db);
      }
    });
    if (bulk === 'bulk') bulkLoaded.push(...tables);
    else if (bulk === 'grown') grown.push(...tables);
  }
  return { bulkLoaded, grown };
}

async function upsertEntity(db: Kysely<any>, spec: EntitySpec, runId: number, sourceId: number, now: Date, intoEmpty: boolean) {
  const updatable = spec.columns.filter((c) => c !== 'sourced_id');
  // Into an empty table every row is new: no conflict to look for (and no unique index to ask).
  const onConflict = intoEmpty
    ? sql``
    : sql`on conflict (sourced_id) do update set
      status = excluded.status, date_last_modified = excluded.date_last_modified, etag = excluded.etag,
      change_version = excluded.change_version, content_hash = excluded.content_hash, input_hash = excluded.input_hash,
      source_id = excluded.source_id, ${sql.join(updatable.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`))}
    where t.content_hash is distinct from excluded.content_hash or t.status <> 'active'
      or t.source_id <> excluded.source_id`;
  await sql`
    insert into ${sql.table(spec.table)} as t (edfi_id, status, date_last_modified, etag, change_version, content_hash, input_hash,
      source_id, ${sql.join(spec.columns.map((c) => sql.ref(c)))})
    select x.edfi_id, 'active', ${now}, ${etagOf(sql.ref('x.cv'), sql.ref('x.content_hash'))}, x.cv, x.content_hash, x.input_hash, ${sourceId},
      ${sql.join(spec.columns.map((c) => sql.ref(`x.${c}`)))}
    from (
      select s.*, nextval('change_version_seq') as cv from ${sql.table(stageTable(runId, spec.table))} s
      where s.action in ('create', 'update')
    ) x
    -- An update keeps its stored Ed-Fi id: edfi_id is not in the SET list.
    ${onConflict}`.execute(db);
}

/**
 * When a load is large next to the table (a first import), maintaining every index and foreign
 * key row by row costs several times the insert itself. Then the secondary indexes and foreign
 * keys of the tables are dropped and rebuilt in bulk around the load, inside the same transaction,
 * so readers never see them missing; the tables are locked for writes meanwhile. Into an empty
 * table that no other table references, even the primary key and unique constraints are built
 * after the rows are in.
 */
export async function withBulkLoadFor(db: Kysely<any>, tables: string[], rows: number, load: (intoEmpty: boolean) => Promise<void>): Promise<'bulk' | 'grown' | 'small'> {
  const [table] = tables as [string, ...string[]];
  const { rows: facts } = await sql<{ n: number; empty: boolean; referenced: boolean }>`
    select greatest(c.reltuples, 0)::float8 as n,
           not exists (select 1 from ${sql.table(table)}) as empty,
           exists (select 1 from pg_constraint f where f.contype = 'f' and f.confrelid = c.oid and f.conrelid <> c.oid) as referenced
    from pg_class c where c.oid = ${table}::regclass`.execute(db);
  const { n, empty, referenced } = facts[0]!;
  if (rows < 20_000 || rows < n) {
    await load(false);
    return rows >= 100 && rows > n / 5 ? 'grown' : 'small';
  }
  const intoEmpty = empty && !referenced;
  const { rows: keys } = intoEmpty
    ? await sql<{ name: string; def: string }>`select conname as name, pg_get_constraintdef(oid) as def
        from pg_constraint where conrelid = ${table}::regclass and contype in ('p', 'u')`.execute(db)
    : { rows: [] };
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
  for (const key of keys) await sql`alter table ${sql.table(table)} drop constraint ${sql.ref(key.name)}`.execute(db);
  await load(intoEmpty);
  for (const key of keys) await sql`alter table ${sql.table(table)} add constraint ${sql.ref(key.name)} ${sql.raw(key.def)}`.execute(db);
  for (const ix of indexes) await sql.raw(ix.def).execute(db);
  for (const fk of foreignKeys) await sql`alter table ${sql.raw(fk.tbl)} add constraint ${sql.ref(fk.name)} ${sql.raw(fk.def)}`.execute(db);
  return 'bulk';
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
      from (select d.sourced_id, nextval('change_version_seq') as cv from (${doomedRows(spec, plan)}) d) x
      where t.sourced_id = x.sourced_id`.execute(db);
    tombstoned[spec.name] = Number(result.numAffectedRows ?? 0);
  }
  return tombstoned;
}
