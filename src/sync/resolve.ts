import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { entitySpec, entitySpecs, type RefSpec } from './entities.ts';
import type { IssueLog } from './issues.ts';

/**
 * Resolves every reference of a staged run in bulk: one statement per reference field, against the
 * live rows and against what the same run staged. A record with a reference that resolves nowhere
 * is marked `rejected` and gets an issue naming the entity, id and field. Entities are handled in
 * dependency order, so rejecting a class also rejects the enrollments that point at it.
 */
export async function resolveReferences(em: EntityManager, runId: number, issues: IssueLog): Promise<void> {
  for (const spec of entitySpecs) {
    for (const ref of spec.refs) {
      const selfReference = ref.target === spec.name;
      // A rejected parent can strand its children: repeat self-references until nothing changes.
      for (;;) {
        const rejected = await rejectUnresolved(em, runId, spec.name, ref, issues);
        if (!selfReference || rejected === 0) break;
      }
    }
  }
}

function refValues(path: RefSpec['path']): RawBuilder<unknown> {
  const col = sql.lit(path.column);
  switch (path.kind) {
    case 'scalar':
      return sql`(select s.record->>${col} as ref) r`;
    case 'array':
      return sql`jsonb_array_elements_text(coalesce(nullif(s.record->${col}, 'null'::jsonb), '[]'::jsonb)) as r(ref)`;
    case 'child':
      return sql`jsonb_array_elements(coalesce(nullif(s.record->${sql.lit(path.child)}, 'null'::jsonb), '[]'::jsonb)) as c(item)
        cross join lateral (select c.item->>${col} as ref) r`;
  }
}

async function rejectUnresolved(em: EntityManager, runId: number, entity: string, ref: RefSpec, issues: IssueLog) {
  const target = entitySpec(ref.target);
  const { rows } = await sql<{ bad: string; stored: string; rejected: string }>`
    with refs as (
      select s.sourced_id, r.ref
      from sync_stage s cross join lateral ${refValues(ref.path)}
      where s.run_id = ${runId} and s.entity = ${entity} and s.action in ('create', 'update') and r.ref is not null
    ), bad as (
      select distinct refs.sourced_id, refs.ref from refs
      where not exists (
          select 1 from sync_stage x
          where x.run_id = ${runId} and x.entity = ${ref.target} and x.sourced_id = refs.ref
            and x.action in ('create', 'update', 'unchanged'))
        and not exists (
          select 1 from ${sql.table(target.table)} t
          where t.sourced_id = refs.ref and t.status = 'active'
            and not exists (
              select 1 from sync_stage d
              where d.run_id = ${runId} and d.entity = ${ref.target} and d.sourced_id = refs.ref and d.action = 'delete'))
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
