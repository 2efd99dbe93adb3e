import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { entitySpec, entitySpecs, type RefSpec } from './entities.ts';
import type { IssueLog } from './issues.ts';
import { stageTable } from './stage.ts';

/**
 * Run-wide checks once every batch is staged, in one transaction and in bulk SQL:
 * - a sourcedId sent more than once in a run rejects every copy (`duplicate_sourced_id`);
 * - every reference must resolve to a row this run stages or an active stored row it does not
 *   delete; otherwise the record is rejected with an issue naming entity, id and field.
 * Entities go in dependency order, so rejecting a class also rejects the enrollments pointing at it.
 * Rejected stage rows get action `rejected` (or `duplicate`) and are skipped when applying.
 */
export async function resolveRun(
  em: EntityManager,
  runId: number,
  issues: IssueLog,
  maybeRepeated: Map<string, Set<string>>,
  files: Map<string, string>,
  bulk: { sourceId: number; scope: readonly string[]; mayLose: readonly string[] },
): Promise<Map<string, Duplicates>> {
  return em.transactional(async (tx) => {
    const duplicates = new Map<string, Duplicates>();
    for (const [entity, ids] of maybeRepeated) {
      duplicates.set(entity, await rejectDuplicates(tx, runId, entity, [...ids], issues, files.get(entity) ?? null));
    }
    const known = new Set<string>();
    for (const spec of entitySpecs) {
      if (!(await hasWork(tx, runId, spec.table))) continue;
      for (const ref of spec.refs) {
        if (!known.has(ref.target)) {
          await buildKnown(tx, runId, ref.target, bulk.scope.includes(ref.target) ? bulk.sourceId : null);
          known.add(ref.target);
        }
        // A rejected parent can strand its children: repeat self-references until nothing changes.
        for (;;) {
          const rejected = await rejectUnresolved(tx, runId, spec.name, ref, issues, files.get(spec.name) ?? null);
          if (ref.target !== spec.name || rejected === 0) break;
          await forgetRejected(tx, runId, spec.name);
        }
      }
    }
    await rejectStaleReferences(tx, runId, issues, files, bulk);
    await warnUnenrolled(tx, runId, issues, files.get('result') ?? null);
    return duplicates;
  });
}

/**
 * Rows a run sends unchanged are never staged, so the checks above do not see them; they still
 * must not point at a row the same run tombstones (left out of a bulk run, or deleted by a delta).
 * Only targets that may lose rows (the caller knows from the run's tallies) are looked at, so an
 * unchanged re-run costs nothing here.
 */
async function rejectStaleReferences(
  em: EntityManager, runId: number, issues: IssueLog, files: Map<string, string>, bulk: { sourceId: number; scope: readonly string[]; mayLose: readonly string[] },
) {
  const db = em.getKysely();
  const targets = new Set(entitySpecs.flatMap((s) => s.refs.map((r) => r.target)).filter((t) => bulk.mayLose.includes(t)));
  for (const target of targets) {
    const table = sql.table(entitySpec(target).table);
    const unseen = bulk.scope.includes(target)
      ? sql`t.sourced_id not in (select unnest(sourced_ids) from sync_seen where run_id = ${runId} and entity = ${target})`
      : sql`false`;
    const doomed = sql.table(`doomed_${target}`);
    await sql`create temp table ${doomed} on commit drop as
      select t.sourced_id from ${table} t where t.source_id = ${bulk.sourceId} and t.status = 'active'
        and (${unseen} or exists (select 1 from ${stage(runId, target)} d where d.sourced_id = t.sourced_id and d.action = 'delete'))`.execute(db);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${doomed}`.execute(db);
    if (rows[0]!.n === 0) continue;
    for (const spec of entitySpecs) {
      for (const ref of spec.refs.filter((r) => r.target === target)) {
        const col = ref.path.column;
        const sent = sql`select unnest(sourced_ids) as id from sync_seen where run_id = ${runId} and entity = ${spec.name}`;
        const refs = ref.path.kind === 'child'
          ? sql`select e.sourced_id, c.${sql.ref(col)} as ref from ${sql.table(spec.table)} e
              join ${sql.table(spec.children.find((c) => c.field === (ref.path as { child: string }).child)!.table)} c on c.user_sourced_id = e.sourced_id`
          : ref.path.kind === 'array'
            ? sql`select e.sourced_id, r.ref from ${sql.table(spec.table)} e cross join unnest(e.${sql.ref(col)}) as r(ref)`
            : sql`select e.sourced_id, e.${sql.ref(col)} as ref from ${sql.table(spec.table)} e`;
        const { rows: found } = await sql<{ bad: string; stored: string }>`
          with bad as (
            select distinct r.sourced_id, r.ref from (${refs}) r
            join ${doomed} d on d.sourced_id = r.ref
            where r.sourced_id in (${sent})
              and not exists (select 1 from ${stage(runId, spec.name)} s where s.sourced_id = r.sourced_id)
          ), logged as (
            insert into sync_issue (run_id, entity, sourced_id, field, file, severity, code, message)
            select ${runId}, ${spec.name}, bad.sourced_id, ${ref.field}, ${files.get(spec.name) ?? null}::text, 'error', 'unresolved_reference',
                   format('%s %s references %s %s, which this run removes', ${spec.name}::text, bad.sourced_id, ${target}::text, bad.ref)
            from bad order by bad.sourced_id limit ${issues.room()}
            returning 1
          )
          select (select count(*) from bad) as bad, (select count(*) from logged) as stored`.execute(db);
        issues.recordExternal(Number(found[0]!.bad), Number(found[0]!.stored));
      }
    }
  }
}

/**
 * Results for a student who is not (or no longer) enrolled as a student in the lineItem's class,
 * once the run lands. A warning, not an error: a SIS keeps the grades of students who left a
 * class, and a sync must carry them. (The REST door, where new grades arrive, refuses them.)
 */
async function warnUnenrolled(em: EntityManager, runId: number, issues: IssueLog, file: string | null) {
  if (!(await hasWork(em, runId, 'result'))) return;
  const { rows } = await sql<{ bad: string; stored: string }>`
    with written as (
      select s.sourced_id, s.line, s.student_sourced_id as student,
        coalesce((select l.class_sourced_id from ${stage(runId, 'lineItem')} l where l.sourced_id = s.line_item_sourced_id and l.action in ('create', 'update')),
                 (select l.class_sourced_id from line_item l where l.sourced_id = s.line_item_sourced_id)) as klass
      from ${stage(runId, 'result')} s where s.action in ('create', 'update')
    ), bad as (
      select w.* from written w
      where not exists (select 1 from ${stage(runId, 'enrollment')} e where e.action in ('create', 'update')
          and e.user_sourced_id = w.student and e.class_sourced_id = w.klass and e.role = 'student')
        and not exists (select 1 from enrollment e where e.status = 'active' and e.user_sourced_id = w.student and e.class_sourced_id = w.klass
          and e.role = 'student' and not exists (select 1 from ${stage(runId, 'enrollment')} d where d.sourced_id = e.sourced_id and d.action = 'delete'))
    ), logged as (
      insert into sync_issue (run_id, entity, sourced_id, field, file, line, severity, code, message)
      select ${runId}, 'result', bad.sourced_id, 'studentSourcedId', ${file}::text, bad.line, 'warning', 'student_not_enrolled',
             format('result %s is for %s, who is not enrolled as a student in class %s', bad.sourced_id, bad.student, bad.klass)
      from bad order by bad.sourced_id limit ${issues.room()}
      returning 1
    )
    select (select count(*) from bad) as bad, (select count(*) from logged) as stored`.execute(em.getKysely());
  issues.recordExternal(Number(rows[0]!.bad), Number(rows[0]!.stored), 'warning');
}

/** Ids sent more than once, and how many records carried them. */
export interface Duplicates {
  ids: number;
  rows: number;
}

const stage = (runId: number, entity: string) => sql.table(stageTable(runId, entitySpec(entity).table));
const knownTable = (entity: string) => sql.table(`known_${entity}`);

async function hasWork(em: EntityManager, runId: number, table: string) {
  const { rows } = await sql`select 1 from ${sql.table(stageTable(runId, table))}
    where action in ('create', 'update') limit 1`.execute(em.getKysely());
  return rows.length > 0;
}

/**
 * Ids a reference to `entity` may point at once this run lands. When the run replaces the
 * entity in bulk (`bulkSource`), that source's rows count only if the run sent them again: the
 * others are about to be tombstoned.
 */
async function buildKnown(em: EntityManager, runId: number, entity: string, bulkSource: number | null) {
  const db = em.getKysely();
  const resent = bulkSource === null
    ? sql``
    : sql`and (t.source_id <> ${bulkSource} or t.sourced_id in (
        select unnest(sourced_ids) from sync_seen where run_id = ${runId} and entity = ${entity}))`;
  await sql`create temp table ${knownTable(entity)} on commit drop as
    select sourced_id from ${stage(runId, entity)} where action in ('create', 'update', 'invalid')
    union
    select t.sourced_id from ${sql.table(entitySpec(entity).table)} t
    where t.status = 'active' ${resent}
      and not exists (select 1 from ${stage(runId, entity)} d where d.sourced_id = t.sourced_id and d.action = 'delete')`.execute(db);
  await sql`create unique index on ${knownTable(entity)} (sourced_id)`.execute(db);
  await sql`analyze ${knownTable(entity)}`.execute(db);
}

async function forgetRejected(em: EntityManager, runId: number, entity: string) {
  await sql`delete from ${knownTable(entity)} k using ${stage(runId, entity)} s
    where s.action = 'rejected' and s.sourced_id = k.sourced_id`.execute(em.getKysely());
}

/** Checks ids the run's Bloom filter flagged against everything the run saw. */
async function rejectDuplicates(
  em: EntityManager, runId: number, entity: string, candidates: string[], issues: IssueLog, file: string | null,
): Promise<Duplicates> {
  const { rows } = await sql<{ dups: string; dup_rows: string; stored: string }>`
    with dups as (
      select id, count(*) as n from (
        select unnest(sourced_ids) as id from sync_seen where run_id = ${runId} and entity = ${entity}) ids
      where id = any(${candidates}::text[])
      group by id having count(*) > 1
    ), logged as (
      insert into sync_issue (run_id, entity, sourced_id, field, file, line, severity, code, message)
      select ${runId}, ${entity}, id, 'sourcedId', ${file}::text,
             (select min(s.line) from ${stage(runId, entity)} s where s.sourced_id = dups.id), 'error', 'duplicate_sourced_id',
             format('%s %s appears %s times in this run; none of them was applied', ${entity}::text, id, n)
      from dups order by id limit ${issues.room()}
      returning 1
    ), marked as (
      update ${stage(runId, entity)} s set action = 'duplicate' from dups where s.sourced_id = dups.id
      returning 1
    )
    select (select count(*) from dups) as dups, (select coalesce(sum(n), 0) from dups) as dup_rows,
           (select count(*) from logged) as stored, (select count(*) from marked) as marked`.execute(em.getKysely());
  const row = rows[0]!;
  issues.recordExternal(Number(row.dups), Number(row.stored));
  return { ids: Number(row.dups), rows: Number(row.dup_rows) };
}

/** The referencing rows of one reference field, as (sourced_id, ref). */
function references(runId: number, entity: string, ref: RefSpec): RawBuilder<unknown> {
  const spec = entitySpec(entity);
  const col = sql.ref(`s.${ref.path.column}`);
  switch (ref.path.kind) {
    case 'scalar':
      return sql`select s.sourced_id, s.line, ${col} as ref from ${stage(runId, entity)} s
        where s.action in ('create', 'update') and ${col} is not null`;
    case 'array':
      return sql`select s.sourced_id, s.line, r.ref from ${stage(runId, entity)} s cross join unnest(${col}) as r(ref)
        where s.action in ('create', 'update')`;
    case 'child': {
      const child = spec.children.find((c) => c.field === (ref.path as { child: string }).child)!;
      return sql`select s.sourced_id, s.line, ${sql.ref(`c.${ref.path.column}`)} as ref
        from ${stage(runId, entity)} s join ${sql.table(stageTable(runId, child.table))} c on c.user_sourced_id = s.sourced_id
        where s.action in ('create', 'update')`;
    }
  }
}

async function rejectUnresolved(em: EntityManager, runId: number, entity: string, ref: RefSpec, issues: IssueLog, file: string | null) {
  const { rows } = await sql<{ bad: string; stored: string; rejected: string }>`
    with bad as (
      select distinct r.sourced_id, r.ref, r.line from (${references(runId, entity, ref)}) r
      where r.ref is not null and not exists (select 1 from ${knownTable(ref.target)} k where k.sourced_id = r.ref)
    ), logged as (
      insert into sync_issue (run_id, entity, sourced_id, field, file, line, severity, code, message)
      select ${runId}, ${entity}, bad.sourced_id, ${ref.field}, ${file}::text, bad.line, 'error', 'unresolved_reference',
             format('%s %s references %s %s, which does not exist', ${entity}::text, bad.sourced_id, ${ref.target}::text, bad.ref)
      from bad order by bad.sourced_id, bad.ref limit ${issues.room()}
      returning 1
    ), rejected as (
      update ${stage(runId, entity)} s set action = 'rejected'
      from (select distinct sourced_id from bad) b where s.sourced_id = b.sourced_id
      returning 1
    )
    select (select count(*) from bad) as bad, (select count(*) from logged) as stored,
           (select count(*) from rejected) as rejected`.execute(em.getKysely());
  const row = rows[0]!;
  issues.recordExternal(Number(row.bad), Number(row.stored));
  return Number(row.rejected);
}
