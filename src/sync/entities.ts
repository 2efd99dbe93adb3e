import type { z } from 'zod';
import {
  academicSessionRecord,
  classRecord,
  courseRecord,
  demographicsRecord,
  enrollmentRecord,
  orgRecord,
  userRecord,
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
  columns: string[];
}

export interface EntitySpec {
  name: EntityName;
  table: string;
  schema: z.ZodObject;
  /** Record fields stored in the entity's own table, in a fixed order (also the hash order). */
  fields: string[];
  children: ChildSpec[];
  refs: RefSpec[];
}

export const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const scalar = (field: string, target: EntityName): RefSpec => ({ field, target, path: { kind: 'scalar', column: snake(field) } });
const array = (field: string, target: EntityName): RefSpec => ({ field, target, path: { kind: 'array', column: snake(field) } });

const roleChild: ChildSpec = {
  field: 'roles',
  table: 'user_role',
  columns: ['role_type', 'role', 'org_sourced_id', 'user_profile', 'begin_date', 'end_date'],
};
const profileChild: ChildSpec = {
  field: 'userProfiles',
  table: 'user_profile',
  columns: ['profile_id', 'profile_type', 'vendor_id', 'application_id', 'description', 'credentials'],
};

function spec(name: EntityName, table: string, schema: z.ZodObject, refs: RefSpec[], children: ChildSpec[] = []): EntitySpec {
  const childFields = new Set(children.map((c) => c.field));
  const fields = Object.keys(schema.shape).filter((f) => !childFields.has(f));
  return { name, table, schema, fields, children, refs };
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
];

export const entityNames = entitySpecs.map((s) => s.name);

export function entitySpec(name: string): EntitySpec {
  const found = entitySpecs.find((s) => s.name === name);
  if (!found) throw new Error(`Unknown entity '${name}'; expected one of ${entityNames.join(', ')}`);
  return found;
}
