import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { z } from 'zod';
import { entitySpec } from '../../../src/sync/entities.ts';
import type { EntityName } from '../../../src/sync/records.ts';

/**
 * Gradebook bodies (OneRoster 1.2 JSON) as canonical records, and the checks a write must pass
 * before it lands: the shape (the record schema), that every reference names an active record,
 * and what the standard implies beyond that (a lineItem's school is its class's school; a result is
 * for a student enrolled in its lineItem's class). Problems come back as messages naming the
 * property as the client wrote it (`lineItem.class.sourcedId`), never as exceptions.
 */

export type GradebookEntity = 'category' | 'scoreScale' | 'lineItem' | 'result';

export interface Writable {
  entity: GradebookEntity;
  /** Envelope key of one object (`lineItem`) and of a set (`lineItems`); the path segment is the set's. */
  key: string;
  setKey: string;
}

export const writables: Record<GradebookEntity, Writable> = {
  category: { entity: 'category', key: 'category', setKey: 'categories' },
  scoreScale: { entity: 'scoreScale', key: 'scoreScale', setKey: 'scoreScales' },
  lineItem: { entity: 'lineItem', key: 'lineItem', setKey: 'lineItems' },
  result: { entity: 'result', key: 'result', setKey: 'results' },
};

/** GUIDRef properties: the canonical field they feed and the `type` a reference must carry. */
const refs: Record<string, { field: string; type: string }> = {
  class: { field: 'classSourcedId', type: 'class' },
  school: { field: 'schoolSourcedId', type: 'org' },
  course: { field: 'courseSourcedId', type: 'course' },
  category: { field: 'categorySourcedId', type: 'category' },
  gradingPeriod: { field: 'gradingPeriodSourcedId', type: 'academicSession' },
  academicSession: { field: 'academicSessionSourcedId', type: 'academicSession' },
  scoreScale: { field: 'scoreScaleSourcedId', type: 'scoreScale' },
  lineItem: { field: 'lineItemSourcedId', type: 'lineItem' },
  student: { field: 'studentSourcedId', type: 'user' },
};
const restName = new Map(Object.entries(refs).map(([name, r]) => [r.field, `${name}.sourcedId`]));
const flags = ['inProgress', 'incomplete', 'late', 'missing'];

/** The canonical fields each entity takes from the body besides references (others are ignored). */
const plain: Record<GradebookEntity, string[]> = {
  category: ['title', 'weight'],
  scoreScale: ['title', 'type', 'scoreScaleValue'],
  lineItem: ['title', 'description', 'assignDate', 'dueDate', 'resultValueMin', 'resultValueMax', 'learningObjectiveSet'],
  result: ['scoreStatus', 'score', 'textScore', 'scoreDate', 'comment', 'learningObjectiveSet'],
};

export type Parsed = { record: Record<string, unknown>; supplied: string | undefined } | { errors: string[] };

/**
 * One object of a body as a canonical record. `sourcedId` comes from the path for a PUT (the body
 * may repeat it, not contradict it), from the body or `allocate` for a POST. Server-kept properties
 * (`dateLastModified`, hrefs) are ignored; `status` may only say active (DELETE removes).
 */
export function fromRest(entity: GradebookEntity, value: unknown, where: string, id: { path?: string; allocate?: () => string }): Parsed {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { errors: [`${where}: must be an object`] };
  const body = value as Record<string, unknown>;
  const errors: string[] = [];
  const given = body.sourcedId;
  if (given !== undefined && (typeof given !== 'string' || given === '')) errors.push(`${where}.sourcedId: must be a non-empty string`);
  if (id.path !== undefined && typeof given === 'string' && given !== id.path) errors.push(`${where}.sourcedId: is ${given}, but the path names ${id.path}`);
  if (body.status !== undefined && body.status !== 'active') {
    errors.push(`${where}.status: must be active (or left out); to delete, use DELETE`);
  }
  const supplied = typeof given === 'string' && given !== '' ? given : undefined;
  const record: Record<string, unknown> = { sourcedId: id.path ?? supplied ?? id.allocate?.() };
  if (body.metadata !== undefined) record.metadata = body.metadata;
  for (const field of plain[entity]) if (body[field] !== undefined && body[field] !== null) record[field] = body[field];
  const spec = entitySpec(entity);
  for (const [name, ref] of Object.entries(refs)) {
    if (!spec.fields.includes(ref.field) || body[name] === undefined || body[name] === null) continue;
    const guid = body[name] as Record<string, unknown>;
    if (typeof guid !== 'object' || Array.isArray(guid) || typeof guid.sourcedId !== 'string' || guid.sourcedId === '') {
      errors.push(`${where}.${name}: must be a reference such as {"sourcedId": "…"}`);
    } else if (guid.type !== undefined && guid.type !== ref.type) {
      errors.push(`${where}.${name}.type: must be ${ref.type}; got ${JSON.stringify(guid.type)}`);
    } else record[ref.field] = guid.sourcedId;
  }
  if (entity === 'result') {
    for (const f of flags) {
      const v = body[f];
      if (v === undefined || v === null) continue;
      if (v === 'true' || v === true) record[f] = true;
      else if (v === 'false' || v === false) record[f] = false;
      else errors.push(`${where}.${f}: must be "true" or "false"`);
    }
    // The standard's scoreDate is a date; consumers often send the instant they graded it.
    if (typeof record.scoreDate === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(record.scoreDate)) record.scoreDate = record.scoreDate.slice(0, 10);
  }
  const parsed = spec.schema.safeParse(record);
  if (!parsed.success) errors.push(...describe(parsed.error, where));
  if (errors.length) return { errors };
  return { record: parsed.data as Record<string, unknown>, supplied };
}

function describe(error: z.ZodError, where: string): string[] {
  return error.issues.map((issue) => {
    const [head, ...rest] = issue.path.map(String);
    const name = [restName.get(head!) ?? head, ...rest].filter(Boolean).join('.');
    const missing = issue.code === 'invalid_type' && issue.message.includes('undefined');
    return `${where}${name ? `.${name}` : ''}: ${missing ? 'is required' : issue.message}`;
  });
}

/** What a limited client may write: rows of its orgs (categories belong to no org). */
export interface WriteScope {
  orgs?: string[];
}

/**
 * Checks records against the stored data: references to active records, and the rules the
 * standard implies. Returns messages (none: the records may be written) and whether any is about
 * the client's org scope (403 rather than 422).
 */
export async function checkRecords(em: EntityManager, entity: EntityName, records: Record<string, unknown>[], wheres: string[], scope: WriteScope) {
  const db = em.getKysely();
  const errors: string[] = [];
  let forbidden = false;
  const spec = entitySpec(entity);
  // Every reference, grouped by target table: one query per table.
  const byTable = new Map<string, Set<string>>();
  for (const ref of spec.refs) {
    const table = entitySpec(ref.target).table;
    for (const r of records) {
      const id = r[ref.field] as string | undefined;
      if (id) (byTable.get(table) ?? byTable.set(table, new Set()).get(table)!).add(id);
    }
  }
  const found = new Map<string, Set<string>>();
  for (const [table, ids] of byTable) {
    const { rows } = await sql<{ id: string }>`select sourced_id as id from ${sql.table(table)} where sourced_id = any(${[...ids]}::text[]) and status = 'active'`.execute(db);
    found.set(table, new Set(rows.map((r) => r.id)));
  }
  records.forEach((r, i) => {
    for (const ref of spec.refs) {
      const id = r[ref.field] as string | undefined;
      const target = entitySpec(ref.target);
      if (id && !found.get(target.table)!.has(id)) errors.push(`${wheres[i]}.${restName.get(ref.field) ?? ref.field}: no active ${ref.target} has sourcedId ${id}`);
    }
  });
  if (errors.length) return { errors, forbidden };

  const inScope = (org: string | null | undefined) => !scope.orgs || (org != null && scope.orgs.includes(org));
  if (entity === 'lineItem') {
    const facts = await classFacts(em, records.map((r) => r.classSourcedId as string));
    const periods = records.map((r) => r.gradingPeriodSourcedId as string | undefined).filter((p): p is string => !!p);
    const { rows: types } = periods.length
      ? await sql<{ id: string; type: string }>`select sourced_id as id, type from academic_session where sourced_id = any(${periods}::text[])`.execute(db)
      : { rows: [] };
    const typeOf = new Map(types.map((t) => [t.id, t.type]));
    records.forEach((r, i) => {
      const school = facts.get(r.classSourcedId as string);
      if (school !== r.schoolSourcedId) errors.push(`${wheres[i]}.school.sourcedId: is ${r.schoolSourcedId}, but class ${r.classSourcedId} is at school ${school}`);
      const period = r.gradingPeriodSourcedId as string | undefined;
      if (period && typeOf.get(period) !== 'gradingPeriod') errors.push(`${wheres[i]}.gradingPeriod.sourcedId: ${period} is a ${typeOf.get(period)}, not a gradingPeriod`);
      if (!inScope(r.schoolSourcedId as string)) {
        forbidden = true;
        errors.push(`${wheres[i]}.school.sourcedId: this client may not write for school ${r.schoolSourcedId}`);
      }
    });
  } else if (entity === 'result') {
    const ids = records.map((r) => r.lineItemSourcedId as string);
    const { rows: items } = await sql<{ id: string; klass: string; school: string }>`select sourced_id as id, class_sourced_id as klass, school_sourced_id as school
      from line_item where sourced_id = any(${ids}::text[])`.execute(db);
    const item = new Map(items.map((l) => [l.id, l]));
    const pairs = records.map((r) => [r.studentSourcedId as string, item.get(r.lineItemSourcedId as string)!.klass]);
    const { rows: enrolled } = await sql<{ u: string; k: string }>`select distinct e.user_sourced_id as u, e.class_sourced_id as k
      from enrollment e join unnest(${pairs.map((p) => p[0]!)}::text[], ${pairs.map((p) => p[1]!)}::text[]) x(u, k)
        on e.user_sourced_id = x.u and e.class_sourced_id = x.k
      where e.role = 'student' and e.status = 'active'`.execute(db);
    const enrolledIn = new Set(enrolled.map((e) => `${e.u}\u0000${e.k}`));
    records.forEach((r, i) => {
      const li = item.get(r.lineItemSourcedId as string)!;
      if (!enrolledIn.has(`${r.studentSourcedId}\u0000${li.klass}`)) {
        errors.push(`${wheres[i]}.student.sourcedId: ${r.studentSourcedId} is not enrolled as a student in class ${li.klass} of lineItem ${li.id}`);
      }
      if (r.classSourcedId !== undefined && r.classSourcedId !== li.klass) errors.push(`${wheres[i]}.class.sourcedId: is ${r.classSourcedId}, but lineItem ${li.id} belongs to class ${li.klass}`);
      if (!inScope(li.school)) {
        forbidden = true;
        errors.push(`${wheres[i]}.lineItem.sourcedId: this client may not write for school ${li.school}`);
      }
    });
  } else if (entity === 'scoreScale' && scope.orgs) {
    const facts = await classFacts(em, records.map((r) => r.classSourcedId as string));
    records.forEach((r, i) => {
      if (!inScope(facts.get(r.classSourcedId as string)) && !inScope(r.orgSourcedId as string | undefined)) {
        forbidden = true;
        errors.push(`${wheres[i]}.class.sourcedId: this client may not write for the school of class ${r.classSourcedId}`);
      }
    });
  }
  return { errors, forbidden };
}

/** Each class's school. */
async function classFacts(em: EntityManager, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await sql<{ id: string; school: string }>`select sourced_id as id, school_sourced_id as school from class
    where sourced_id = any(${ids}::text[])`.execute(em.getKysely());
  return new Map(rows.map((r) => [r.id, r.school]));
}
