import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type Kysely } from 'kysely';
import { entitySpecs, snake, type EntitySpec } from './entities.ts';

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

/** Rows each entity would tombstone, and how many active rows the source has for it. */
export async function tombstoneShares(em: EntityManager, plan: TombstonePlan) {
  const db = em.getKysely();
  const shares: { entity: string; doomed: number; active: number }[] = [];
  for (const spec of entitySpecs) {
    const { rows } = await sql<{ doomed: string; active: string }>`
      select count(*) filter (where ${doomedPredicate(spec, plan)}) as doomed, count(*) as active
      from ${sql.table(spec.table)} t
      where t.source_id = ${plan.sourceId} and t.status = 'active'`.execute(db);
    shares.push({ entity: spec.name, doomed: Number(rows[0]!.doomed), active: Number(rows[0]!.active) });
  }
  return shares;
}

function doomedPredicate(spec: EntitySpec, plan: TombstonePlan) {
  const explicit = sql`exists (select 1 from sync_stage s where s.run_id = ${plan.runId} and s.entity = ${spec.name}
    and s.sourced_id = t.sourced_id and s.action = 'delete')`;
  if (!plan.bulkScope.includes(spec.name)) return explicit;
  return sql`(${explicit} or not exists (select 1 from sync_stage s where s.run_id = ${plan.runId}
    and s.entity = ${spec.name} and s.sourced_id = t.sourced_id))`;
}

const etagOf = (cv: ReturnType<typeof sql.ref>, hash: ReturnType<typeof sql.ref>) =>
  sql`${cv}::text || '-' || left(${hash}, 8)`;

/** Upserts what the run created or changed, entity by entity in dependency order. */
export async function applyUpserts(em: EntityManager, runId: number, sourceId: number, now: Date) {
  const db = em.getKysely();
  const written: Record<string, number> = {};
  for (const spec of entitySpecs) {
    written[spec.name] = await upsertEntity(db, spec, runId, sourceId, now);
    for (const child of spec.children) {
      await sql`delete from ${sql.table(child.table)} c using sync_stage s
        where s.run_id = ${runId} and s.entity = ${spec.name} and s.action = 'update'
          and c.user_sourced_id = s.sourced_id`.execute(db);
      const cols = sql.join(child.columns.map((c) => sql.ref(c)));
      const picked = sql.join(child.columns.map((c) => sql.ref(`c.${c}`)));
      await sql`insert into ${sql.table(child.table)} (user_sourced_id, ${cols})
        select s.sourced_id, ${picked}
        from sync_stage s
          cross join lateral jsonb_populate_recordset(null::${sql.table(child.table)}, s.record->${sql.lit(child.field)}) c
        where s.run_id = ${runId} and s.entity = ${spec.name} and s.action in ('create', 'update')`.execute(db);
    }
  }
  return written;
}

async function upsertEntity(db: Kysely<any>, spec: EntitySpec, runId: number, sourceId: number, now: Date) {
  const columns = spec.fields.map(snake);
  const updatable = columns.filter((c) => c !== 'sourced_id');
  const table = sql.table(spec.table);
  const result = await sql`
    insert into ${table} as t (status, date_last_modified, etag, change_version, content_hash, source_id,
      ${sql.join(columns.map((c) => sql.ref(c)))})
    select 'active', ${now}, ${etagOf(sql.ref('x.cv'), sql.ref('x.content_hash'))}, x.cv, x.content_hash, ${sourceId},
      ${sql.join(columns.map((c) => sql.ref(`r.${c}`)))}
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
  return Number(result.numAffectedRows ?? 0);
}

/** Tombstones explicit delta deletes and, for a complete bulk run, every unseen row in scope. */
export async function applyTombstones(em: EntityManager, plan: TombstonePlan, now: Date) {
  const db = em.getKysely();
  const tombstoned: Record<string, number> = {};
  for (const spec of [...entitySpecs].reverse()) {
    const table = sql.table(spec.table);
    const result = await sql`
      update ${table} t set status = 'tobedeleted', date_last_modified = ${now}, change_version = x.cv,
        etag = ${etagOf(sql.ref('x.cv'), sql.ref('t.content_hash'))}
      from (
        select t.sourced_id, nextval('change_version_seq') as cv from ${table} t
        where t.source_id = ${plan.sourceId} and t.status = 'active' and ${doomedPredicate(spec, plan)}
      ) x
      where t.sourced_id = x.sourced_id`.execute(db);
    tombstoned[spec.name] = Number(result.numAffectedRows ?? 0);
  }
  return tombstoned;
}
