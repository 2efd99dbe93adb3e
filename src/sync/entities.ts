import type { z } from 'zod';
import {
  academicSessionRecord,
  classRecord,
  courseRecord,
  demographicsRecord,
  enrollmentRecord,
  orgRecord,
  userRecord,
  categoryRecord,
  scoreScaleRecord,
  lineItemRecord,
  resultRecord,
  type EntityName,
} from './records.ts';

/**
 * How each canonical entity lands in the shared schema. Columns are the record's fields in
 * snake_case (see src/db/entities.ts); this table adds what the engine needs beyond them: the
 * table, the references to resolve and the child collections that are part of a row's content.
 */

export type RefPath =
  | { kind: 'scalar'; column: string }
  | { kind: 'array'; column: string }
  | { kind: 'child'; child: string; column: string };

export interface RefSpec {
  /** The canonical field, as issues name it (`roles[].orgSourcedId`). */
  field: string;
  target: EntityName;
  path: RefPath;
}

export interface ChildSpec {
  /** Key in the canonical record and in the staged row. */
  field: string;
  table: string;
  /** Child record fields, camelCase, in hash order. */
  fields: string[];
  columns: string[];
}

export interface EntitySpec {
  name: EntityName;
  table: string;
  schema: z.ZodObject;
  /** Record fields stored in the entity's own table, in a fixed order (also the hash order). */
  fields: string[];
  /** `fields` in snake_case: the table's columns. */
  columns: string[];
  children: ChildSpec[];
  refs: RefSpec[];
}

export const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const scalar = (field: string, target: EntityName): RefSpec => ({ field, target, path: { kind: 'scalar', column: snake(field) } });
const array = (field: string, target: EntityName): RefSpec => ({ field, target, path: { kind: 'array', column: snake(field) } });

function child(field: string, table: string, fields: string[]): ChildSpec {
  return { field, table, fields, columns: fields.map(snake) };
}
const roleChild = child('roles', 'user_role', ['sourcedId', 'roleType', 'role', 'orgSourcedId', 'userProfile', 'beginDate', 'endDate', 'edfi']);
const profileChild = child('userProfiles', 'user_profile', [
  'profileId', 'profileType', 'vendorId', 'applicationId', 'description', 'credentials',
]);

function spec(name: EntityName, table: string, schema: z.ZodObject, refs: RefSpec[], children: ChildSpec[] = []): EntitySpec {
  const childFields = new Set(children.map((c) => c.field));
  const fields = Object.keys(schema.shape).filter((f) => !childFields.has(f));
  return { name, table, schema, fields, columns: fields.map(snake), children, refs };
}

/** In dependency order: a record only references entities listed before it (or its own). */
export const entitySpecs: readonly EntitySpec[] = [
  spec('org', 'org', orgRecord, [scalar('parentSourcedId', 'org')]),
  spec('academicSession', 'academic_session', academicSessionRecord, [scalar('parentSourcedId', 'academicSession')]),
  spec('course', 'course', courseRecord, [
    scalar('schoolYearSourcedId', 'academicSession'),
    scalar('orgSourcedId', 'org'),
  ]),
  spec('class', 'class', classRecord, [
    scalar('courseSourcedId', 'course'),
    scalar('schoolSourcedId', 'org'),
    array('termSourcedIds', 'academicSession'),
  ]),
  spec(
    'user',
    'user',
    userRecord,
    [
      scalar('primaryOrgSourcedId', 'org'),
      array('agentSourcedIds', 'user'),
      { field: 'roles[].orgSourcedId', target: 'org', path: { kind: 'child', child: 'roles', column: 'org_sourced_id' } },
    ],
    [roleChild, profileChild],
  ),
  spec('enrollment', 'enrollment', enrollmentRecord, [
    scalar('classSourcedId', 'class'),
    scalar('schoolSourcedId', 'org'),
    scalar('userSourcedId', 'user'),
  ]),
  // Demographics describe a user and share its sourcedId.
  spec('demographics', 'demographics', demographicsRecord, [scalar('sourcedId', 'user')]),
  // Gradebook (OneRoster 1.2 Gradebook service).
  spec('category', 'category', categoryRecord, []),
  spec('scoreScale', 'score_scale', scoreScaleRecord, [
    scalar('orgSourcedId', 'org'),
    scalar('courseSourcedId', 'course'),
    scalar('classSourcedId', 'class'),
  ]),
  spec('lineItem', 'line_item', lineItemRecord, [
    scalar('classSourcedId', 'class'),
    scalar('schoolSourcedId', 'org'),
    scalar('categorySourcedId', 'category'),
    scalar('gradingPeriodSourcedId', 'academicSession'),
    scalar('academicSessionSourcedId', 'academicSession'),
    scalar('scoreScaleSourcedId', 'scoreScale'),
  ]),
  spec('result', 'result', resultRecord, [
    scalar('lineItemSourcedId', 'lineItem'),
    scalar('studentSourcedId', 'user'),
    scalar('classSourcedId', 'class'),
    scalar('scoreScaleSourcedId', 'scoreScale'),
  ]),
];

export const entityNames = entitySpecs.map((s) => s.name);

export function entitySpec(name: string): EntitySpec {
  const found = entitySpecs.find((s) => s.name === name);
  if (!found) throw new Error(`Unknown entity '${name}'; expected one of ${entityNames.join(', ')}`);
  return found;
}
