import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { entitySpec, entitySpecs, type RefSpec } from './entities.ts';
import type { IssueLog } from './issues.ts';

/**
 * Run-wide checks once every batch is staged, in one transaction and in bulk SQL:
 * - a sourcedId sent more than once in a run rejects every copy (`duplicate_sourced_id`);
 * - every reference must resolve to a row this run stages or an active stored row it does not
 *   delete; otherwise the record is rejected with an issue naming entity, id and field.
 * Entities go in dependency order, so rejecting a class also rejects the enrollments pointing at it.
 */
export async function resolveRun(em: EntityManager, runId: number, issues: IssueLog): Promise<Map<string, Duplicates>> {
  return em.transactional(async (tx) => {
    const duplicates = new Map<string, Duplicates>();
    // The working tables were just filled; without statistics the planner guesses them tiny.
    await sql`analyze sync_stage, sync_seen`.execute(tx.getKysely());
    for (const spec of entitySpecs) duplicates.set(spec.name, await rejectDuplicates(tx, runId, spec.name, issues));
    const known = new Set<string>();
    const ensureKnown = async (target: string) => {
      if (known.has(target)) return;
      await buildKnown(tx, runId, target);
      known.add(target);
    };
    for (const spec of entitySpecs) {
      if (!(await hasWork(tx, runId, spec.name))) continue;
      for (const ref of spec.refs) {
        await ensureKnown(ref.target);
        const self = ref.target === spec.name;
        // A rejected parent can strand its children: repeat self-references until nothing changes.
        for (;;) {
          const rejected = await rejectUnresolved(tx, runId, spec.name, ref, issues);
          if (!self || rejected === 0) break;
          await forgetRejected(tx, runId, spec.name);
        }
      }
    }
    return duplicates;
  });
}

/** Ids sent more than once, and how many records carried them. */
export interface Duplicates {
  ids: number;
  rows: number;
}

const knownTable = (entity: string) => sql.table(`known_${entity}`);

async function hasWork(em: EntityManager, runId: number, entity: string) {
  const { rows } = await sql`select 1 from sync_stage where run_id = ${runId} and entity = ${entity}
    and action in ('create', 'update') limit 1`.execute(em.getKysely());
  return rows.length > 0;
}

/** Ids a reference to `entity` may point at once this run lands. */
async function buildKnown(em: EntityManager, runId: number, entity: string) {
  const db = em.getKysely();
  const spec = entitySpec(entity);
  await sql`create temp table ${knownTable(entity)} on commit drop as
    select sourced_id from sync_stage where run_id = ${runId} and entity = ${entity} and action in ('create', 'update')
    union
    select t.sourced_id from ${sql.table(spec.table)} t
    where t.status = 'active' and not exists (
      select 1 from sync_stage d where d.run_id = ${runId} and d.entity = ${entity}
        and d.sourced_id = t.sourced_id and d.action = 'delete')`.execute(db);
  await sql`create unique index on ${knownTable(entity)} (sourced_id)`.execute(db);
  await sql`analyze ${knownTable(entity)}`.execute(db);
}

async function forgetRejected(em: EntityManager, runId: number, entity: string) {
  await sql`delete from ${knownTable(entity)} k using sync_stage s
    where s.run_id = ${runId} and s.entity = ${entity} and s.action = 'rejected' and s.sourced_id = k.sourced_id`.execute(em.getKysely());
}

async function rejectDuplicates(em: EntityManager, runId: number, entity: string, issues: IssueLog): Promise<Duplicates> {
  const { rows } = await sql<{ dups: string; dup_rows: string; stored: string }>`
    with dups as (
      select id, count(*) as n from (
        select unnest(sourced_ids) as id from sync_seen where run_id = ${runId} and entity = ${entity}) ids
      group by id having count(*) > 1
    ), logged as (
      insert into sync_issue (run_id, entity, sourced_id, field, severity, code, message)
      select ${runId}, ${entity}, id, 'sourcedId', 'error', 'duplicate_sourced_id',
             format('%s %s appears %s times in this run; none of them was applied', ${entity}::text, id, n)
      from dups order by id limit ${issues.room()}
      returning 1
    ), marked as (
      update sync_stage s set action = 'duplicate', record = null from dups
      where s.run_id = ${runId} and s.entity = ${entity} and s.sourced_id = dups.id
      returning 1
    )
    select (select count(*) from dups) as dups, (select coalesce(sum(n), 0) from dups) as dup_rows,
           (select count(*) from logged) as stored, (select count(*) from marked) as marked`.execute(em.getKysely());
  const row = rows[0]!;
  issues.recordExternal(Number(row.dups), Number(row.stored));
  return { ids: Number(row.dups), rows: Number(row.dup_rows) };
}

/** The value if it is a JSON array, else an empty one (absent fields are JSON null). */
const jsonArray = (value: RawBuilder<unknown>) => sql`case when jsonb_typeof(${value}) = 'array' then ${value} else '[]'::jsonb end`;

function refValues(path: RefSpec['path']): RawBuilder<unknown> {
  const col = sql.lit(path.column);
  switch (path.kind) {
    case 'scalar':
      return sql`(select s.record->>${col} as ref) r`;
    case 'array':
      return sql`jsonb_array_elements_text(${jsonArray(sql`s.record->${col}`)}) as r(ref)`;
    case 'child':
      return sql`jsonb_array_elements(${jsonArray(sql`s.record->${sql.lit(path.child)}`)}) as c(item)
        cross join lateral (select c.item->>${col} as ref) r`;
  }
}

async function rejectUnresolved(em: EntityManager, runId: number, entity: string, ref: RefSpec, issues: IssueLog) {
  const { rows } = await sql<{ bad: string; stored: string; rejected: string }>`
    with bad as (
      select distinct s.sourced_id, r.ref
      from sync_stage s cross join lateral ${refValues(ref.path)}
      where s.run_id = ${runId} and s.entity = ${entity} and s.action in ('create', 'update') and r.ref is not null
        and not exists (select 1 from ${knownTable(ref.target)} k where k.sourced_id = r.ref)
    ), logged as (
      insert into sync_issue (run_id, entity, sourced_id, field, severity, code, message)
      select ${runId}, ${entity}, bad.sourced_id, ${ref.field}, 'error', 'unresolved_reference',
             format('%s %s references %s %s, which does not exist', ${entity}::text, bad.sourced_id, ${ref.target}::text, bad.ref)
      from bad order by bad.sourced_id, bad.ref limit ${issues.room()}
      returning 1
    ), rejected as (
      update sync_stage s set action = 'rejected', record = null
      from (select distinct sourced_id from bad) b
      where s.run_id = ${runId} and s.entity = ${entity} and s.sourced_id = b.sourced_id
      returning 1
    )
    select (select count(*) from bad) as bad, (select count(*) from logged) as stored,
           (select count(*) from rejected) as rejected`.execute(em.getKysely());
  const row = rows[0]!;
  issues.recordExternal(Number(row.bad), Number(row.stored));
  return Number(row.rejected);
}
