import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { readRecordOf, readRecords, type StoredRecord } from '../../src/sync/read.ts';
import type { EntityName, RoleRecord } from '../../src/sync/records.ts';
import { tombstoneRow, writeRecord, writeRecords, type RecordWrite, type Written } from '../../src/sync/write.ts';
import { saveDocument, tombstoneDocument } from './documents.ts';
import {
  assignmentRole, associationDemographics, contactRoles, edfiFields, edfiIds, extras, gradeOf, personIds, placeRole, schoolAssociationRole, sameDate,
  sectionKeyOf, studentRoleAt, teachingRole, type Doc, type PersonKind, type SectionKey,
} from './canonical.ts';
import { seededDescriptors } from './vocabulary.ts';
import { descriptorView, views, type View } from './views.ts';

/**
 * The Ed-Fi resources the gateway serves: identity, the official schema that validates a body, how
 * a body becomes canonical records (through the engine's single-record write path) and what a
 * delete must check first. Ids of rows created through this door follow Ed-Fi's own OneRoster
 * service (`md5` of the natural key, docs/mapping.md), so the same data yields the same OneRoster
 * ids in both systems; a body whose natural key matches a row from another door updates that row.
 */

export type { Doc };

/** A row of a resource's view. */
export interface Found {
  sourcedId: string;
  id: string;
  etag: string;
  status: string;
  /** The item as served (only when asked for: building it costs). */
  doc?: Doc;
  keys: Record<string, unknown>;
  roleOrg?: string;
  roleBegin?: string | null;
  roleName?: string;
}

export class Unresolved extends Error {
  readonly items: { resource: string; path: string }[];
  constructor(items: { resource: string; path: string }[]) {
    super(items.map((i) => `The referenced '${i.resource}' item does not exist.`).join(' '));
    this.items = items;
  }
}

/** A request the standard answers with 400 and a JSON path (key unification, unsupported key change). */
export class Invalid extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

export class Conflict extends Error {
  constructor(dependent: string) {
    super(`The requested action cannot be performed because this item is referenced by an existing '${dependent}' item.`);
  }
}

export interface WriteContext {
  em: EntityManager;
  sourceId: number;
  /** The active row of `resource` with these key values. */
  find(resource: string, key: Record<string, unknown>, withDoc?: boolean): Promise<Found | undefined>;
  /** The stored canonical record of `entity` behind that row: one lookup instead of find, then read. */
  record(entity: EntityName, resource: string, key: Record<string, unknown>): Promise<Stored | undefined>;
  /** The same lookups started ahead (EdfiResource.prefetch): each answers the first `find` or `record` that asks for it. */
  ahead: Pick<WriteContext, 'find' | 'record'>;
}

export interface EdfiResource {
  name: string;
  /** The item's schema in the official OpenAPI (`edFi_student`). */
  schema: string;
  /** Natural key members, as query parameters and `keyValues` name them. */
  identity: string[];
  /** The Ed-Fi resource name references use in messages ('Student'). */
  title: string;
  /** Ed-Fi allows a PUT to change the natural key (x-Ed-Fi-isUpdatable). */
  keyUpdatable?: boolean;
  /** Load order, as /metadata/data/v3/dependencies reports it. */
  order: number;
  /**
   * How a client limited to some education organizations sees this resource: through the view
   * column holding the item's Ed-Fi ed-org id, or (`person`) through the person's roles at those
   * orgs. Absent: not limited (descriptors, school years).
   */
  edOrg?: string | 'person';
  keyOf(doc: Doc): Record<string, string | number>;
  view: View;
  write(ctx: WriteContext, doc: Doc, existing?: Found): Promise<Written>;
  /**
   * Starts the lookups `write` will make, so that they run while POST looks up the item itself: one
   * round trip instead of two in a row.
   */
  prefetch?(ahead: WriteContext['ahead'], doc: Doc): void;
  remove(ctx: WriteContext, existing: Found): Promise<void>;
  /** SQL naming the first active item that references this one (null: none). */
  dependents?(existing: Found): RawBuilder<string | null>;
}

/** The school and school year a session or grading period belongs to, both resolved. */
async function schoolAndYear(ctx: WriteContext, doc: Doc) {
  const refs = new References(ctx);
  const schoolId = doc.schoolReference.schoolId;
  const schoolYear = doc.schoolYearTypeReference.schoolYear;
  await Promise.all([
    refs.get('schools', 'School', { schoolId }, '$.schoolReference'),
    refs.get('schoolYearTypes', 'SchoolYearType', { schoolYear }, '$.schoolYearTypeReference'),
  ]);
  refs.check();
  return { schoolId, schoolYear };
}

/** Resolves references; every missing one is reported together. */
class References {
  #missing: { resource: string; path: string; at: number }[] = [];
  #asked = 0;
  readonly ctx: WriteContext;
  constructor(ctx: WriteContext) {
    this.ctx = ctx;
  }
  /** Lookups may run at once (Promise.all); the missing ones are reported in the order they were asked for. */
  async get(resource: string, title: string, key: Record<string, unknown>, path: string, withDoc = false): Promise<Found | undefined> {
    const at = this.#asked++;
    const found = await this.ctx.find(resource, key, withDoc);
    if (!found) this.#missing.push({ resource: title, path, at });
    return found;
  }
  async optional(resource: string, title: string, key: Record<string, unknown> | undefined, path: string) {
    return key ? this.get(resource, title, key, path) : undefined;
  }
  check() {
    if (this.#missing.length) throw new Unresolved(this.#missing.sort((a, b) => a.at - b.at).map(({ resource, path }) => ({ resource, path })));
  }
}

/**
 * The stored canonical record (for merging: a PUT replaces the Ed-Fi fields and keeps the rest)
 * and its content hash, which the write passes back so a concurrent change is not overwritten.
 */
async function stored(em: EntityManager, entity: EntityName, sourcedId: string | undefined): Promise<Stored | undefined> {
  if (!sourcedId) return undefined;
  const row = (await readRecords(em, entity, [sourcedId])).get(sourcedId);
  return row && asStored(row);
}

const asStored = (row: StoredRecord): Stored => ({ record: row.record as Doc, hash: row.contentHash });

export interface Stored { record: Doc; hash: string }

/** The stored record whose sourcedId the subquery names (WriteContext.record). */
export async function storedWhere(em: EntityManager, entity: EntityName, sourcedId: RawBuilder<unknown>): Promise<Stored | undefined> {
  const row = await readRecordOf(em, entity, sourcedId);
  return row && asStored(row);
}

/** Writes a record merged over the stored one (if any). */
async function merge<E extends EntityName>(ctx: WriteContext, entity: E, sourcedId: string | undefined, change: (prev: Doc | undefined) => Doc): Promise<Written> {
  const prev = await stored(ctx.em, entity, sourcedId);
  return writeRecord(ctx.em, ctx.sourceId, entity, { ...prev?.record, ...change(prev?.record) } as never, prev?.hash);
}

const unify = (a: unknown, b: unknown, path: string, what: string) => {
  if (a !== undefined && b !== undefined && String(a) !== String(b)) throw new Invalid(path, `${what} must be the same in every reference of the item (${a} and ${b}).`);
};

const tombstone = (entity: EntityName) => async (ctx: WriteContext, existing: Found) => {
  await tombstoneRow(ctx.em, entity, existing.sourcedId);
};
const removeDocument = async (ctx: WriteContext, existing: Found) => {
  await tombstoneDocument(ctx.em, existing.id);
};

/** The first of several `(name, exists-query)` checks that finds a row. */
const firstOf = (checks: [string, RawBuilder<unknown>][]): RawBuilder<string | null> =>
  sql<string | null>`(select coalesce(${sql.join(checks.map(([name, q]) => sql`case when exists (${q}) then ${name}::text end`))}))`;


/** Students, staff and contacts are OneRoster users, ids as edfi-oneroster forms them (STU-/STA-/PAR- + unique id). */
function person(kind: PersonKind, dependents: EdfiResource['dependents']): EdfiResource {
  const idField = personIds[kind];
  const name = { student: 'students', staff: 'staffs', contact: 'contacts' }[kind];
  return {
    name, edOrg: 'person', schema: `edFi_${kind}`, identity: [idField], title: kind[0]!.toUpperCase() + kind.slice(1), order: 4,
    keyOf: (doc) => ({ [idField]: doc[idField] }),
    view: views[name]!,
    // A student's demographics go with them.
    remove: async (ctx, existing) => {
      await tombstoneRow(ctx.em, 'user', existing.sourcedId);
      if (kind === 'student') await tombstoneRow(ctx.em, 'demographics', existing.sourcedId);
    },
    dependents,
    async write(ctx, doc, existing) {
      const sourcedId = existing?.sourcedId ?? edfiIds.person(kind, doc[idField]);
      const [prev, demo] = await Promise.all([stored(ctx.em, 'user', existing?.sourcedId), kind === 'student' ? stored(ctx.em, 'demographics', existing?.sourcedId) : undefined]);
      const writes: RecordWrite[] = [{ entity: 'user', expectedHash: prev?.hash, record: edfiFields.person(kind, doc, sourcedId, prev?.record) as never }];
      if (kind === 'student') {
        writes.push({ entity: 'demographics', expectedHash: demo?.hash, record: edfiFields.studentDemographics(doc, sourcedId, demo?.record) as never });
      }
      return (await writeRecords(ctx.em, ctx.sourceId, writes))[0]!;
    },
  };
}

function sectionAssociation(kind: 'student' | 'staff'): Pick<EdfiResource, 'write'> {
  const personRef = kind === 'student' ? 'studentReference' : 'staffReference';
  const idField = personIds[kind];
  return {
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const s = doc.sectionReference as Doc;
      const [section, who] = await Promise.all([
        refs.get('sections', 'Section', s, `$.sectionReference`),
        refs.get(kind === 'student' ? 'students' : 'staffs', kind === 'student' ? 'Student' : 'Staff', doc[personRef], `$.${personRef}`),
      ]);
      refs.check();
      const cls = (await stored(ctx.em, 'class', section!.sourcedId))!.record;
      const sourcedId = existing?.sourcedId ?? edfiIds.sectionAssociation(doc[personRef][idField], s as never, doc.beginDate);
      const prev = await stored(ctx.em, 'enrollment', existing?.sourcedId);
      const writes: RecordWrite[] = kind === 'staff' ? await roleAt(ctx, who!.sourcedId, cls.schoolSourcedId) : [];
      writes.push({
        entity: 'enrollment',
        expectedHash: prev?.hash,
        record: { ...prev?.record, sourcedId, ...edfiFields.sectionAssociation(kind, doc, { classSourcedId: section!.sourcedId, schoolSourcedId: cls.schoolSourcedId, userSourcedId: who!.sourcedId }) } as never,
      });
      return (await writeRecords(ctx.em, ctx.sourceId, writes)).at(-1)!;
    },
  };
}

/** Staff seen only through section associations teach at the section's school (as edfi-oneroster reads them): the user write that adds the role, if one is missing. */
async function roleAt(ctx: WriteContext, userId: string, orgId: string): Promise<RecordWrite[]> {
  const { record: user, hash } = (await stored(ctx.em, 'user', userId))!;
  const roles = teachingRole((user.roles as RoleRecord[] | undefined) ?? [], orgId);
  if (!roles) return [];
  return [{ entity: 'user', record: { ...user, ...personKey(user, 'staffUniqueId'), roles } as never, expectedHash: hash }];
}

/** A student's demographics projected from their stored studentEducationOrganizationAssociations (canonical.ts). */
async function projectDemographics(ctx: WriteContext, sourcedId: string, uid: string) {
  const { rows } = await sql<{ body: Doc }>`select body from edfi_document where resource = 'studentEducationOrganizationAssociations'
    and status = 'active' and key_values->>'studentUniqueId' = ${uid} order by last_modified`.execute(ctx.em.getKysely());
  await merge(ctx, 'demographics', sourcedId, (prev) => associationDemographics(rows.map((r) => r.body), sourcedId, prev));
}

/**
 * A person an Ed-Fi write touched keeps their Ed-Fi kind: a student whose last school association
 * was deleted is still a student (OneRoster rows are students only while they have the role).
 */
const personKey = (user: Doc, idField: (typeof personIds)[PersonKind]) => ({
  edfiKey: user.edfiKey ?? { [idField]: String(user.identifier ?? user.sourcedId) },
});

/** An association kept as a person's role, as written: created when the role is new. */
const asAssociation = (written: Written, old: RoleRecord | undefined, edfiId: string): Written =>
  ({ ...written, edfiId, outcome: old ? (written.outcome === 'unchanged' ? 'unchanged' : 'updated') : 'created' });

/** Deletes an association kept as a role: the person without the roles `drop` matches. */
async function dropRoles(ctx: WriteContext, existing: Found, idField: (typeof personIds)[PersonKind], drop: (r: RoleRecord) => boolean) {
  const { record: user, hash } = (await stored(ctx.em, 'user', existing.sourcedId))!;
  const roles = ((user.roles as RoleRecord[] | undefined) ?? []).filter((r) => !drop(r));
  await writeRecord(ctx.em, ctx.sourceId, 'user', { ...user, ...personKey(user, idField), roles } as never, hash);
}

export const keyString = (key: object) => JSON.stringify(Object.entries(key).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, String(v)]));

/**
 * A section's new key reaches its section associations, whose keys include it (the ODS cascades key
 * updates): each stored key follows, and each is a key change for /keyChanges readers.
 */
async function cascadeSectionKey(ctx: WriteContext, classSourcedId: string, key: SectionKey) {
  const { rows } = await sql<{ sourced_id: string; edfi_id: string; role: string }>`select sourced_id, edfi_id, role from enrollment
    where class_sourced_id = ${classSourcedId} and status = 'active' and edfi_key is not null`.execute(ctx.em.getKysely());
  if (!rows.length) return;
  const stored = await readRecords(ctx.em, 'enrollment', rows.map((r) => r.sourced_id));
  const writes: RecordWrite[] = rows.map((r) => {
    const { record, contentHash } = stored.get(r.sourced_id)!;
    return { entity: 'enrollment', expectedHash: contentHash, record: { ...record, edfiKey: { ...(record.edfiKey as object), ...key } } as never };
  });
  const written = await writeRecords(ctx.em, ctx.sourceId, writes);
  const changes = rows.map((r, i) => {
    const old = stored.get(r.sourced_id)!.record.edfiKey as Record<string, unknown>;
    return { cv: written[i]!.changeVersion, resource: r.role === 'student' ? 'studentSectionAssociations' : 'staffSectionAssociations', id: r.edfi_id, old, new: { ...old, ...key } };
  });
  await sql`insert into edfi_key_change (change_version, resource, id, old_key_values, new_key_values)
    select x.cv, x.resource, x.id, x.old, x.new from jsonb_to_recordset(${JSON.stringify(changes)}::jsonb) as x(cv bigint, resource text, id uuid, old jsonb, new jsonb)`
    .execute(ctx.em.getKysely());
}

function descriptorResource(descriptor: string): EdfiResource {
  const name = descriptor[0]!.toLowerCase() + descriptor.slice(1) + 's';
  return {
    name, schema: `edFi_${descriptor[0]!.toLowerCase()}${descriptor.slice(1)}`, identity: ['namespace', 'codeValue'], title: descriptor, order: 1,
    keyOf: (doc) => ({ namespace: doc.namespace, codeValue: doc.codeValue }),
    view: descriptorView(name),
    async write(ctx, doc, existing) {
      const body = { ...extras(doc, []), codeValue: String(doc.codeValue).trim(), shortDescription: String(doc.shortDescription).trim() };
      return saveDocument(ctx.em, name, `${doc.namespace}#${body.codeValue}`.toLowerCase(), { namespace: doc.namespace, codeValue: body.codeValue }, body, existing?.id);
    },
    remove: removeDocument,
    dependents: (e) => descriptorUses(`${e.keys.namespace}#${e.keys.codeValue}`),
  };
}

/**
 * Where a descriptor is used: Ed-Fi attributes kept as sent (the `edfi` columns, association
 * attributes, Ed-Fi-only items) that hold its URI. A scan, but descriptors are seldom deleted.
 */
function descriptorUses(uri: string): RawBuilder<string | null> {
  const quoted = JSON.stringify(uri).toLowerCase();
  const holders: [string, string][] = [
    ['EducationOrganization', 'org'], ['Session', 'academic_session'], ['Course', 'course'], ['Section', 'class'],
    ['Student', 'user'], ['StudentSchoolAssociation', 'user_role'], ['StudentSectionAssociation', 'enrollment'],
  ];
  return firstOf([
    ...holders.map(([title, table]): [string, RawBuilder<unknown>] => [title, sql`select 1 from ${sql.table(table)} t where strpos(lower(t.edfi::text), ${quoted}) > 0`]),
    ['Resource', sql`select 1 from edfi_document d where d.status = 'active' and d.resource not like '%Descriptors' and strpos(lower(d.body::text), ${quoted}) > 0`],
  ]);
}

const descriptorResources = Object.keys(seededDescriptors).map(descriptorResource);

const coreResources: EdfiResource[] = [
  {
    name: 'schoolYearTypes', schema: 'edFi_schoolYearType', identity: ['schoolYear'], title: 'SchoolYearType', order: 1,
    keyOf: (doc) => ({ schoolYear: doc.schoolYear }),
    view: views.schoolYearTypes!,
    write: (ctx, doc, existing) => saveDocument(ctx.em, 'schoolYearTypes', String(doc.schoolYear), { schoolYear: doc.schoolYear }, extras(doc, []) ?? {}, existing?.id),
    remove: removeDocument,
    dependents: (e) => firstOf([['Session', sql`select 1 from academic_session a where a.status = 'active' and a.school_year = ${String(e.keys.schoolYear)}`]]),
  },
  {
    name: 'localEducationAgencies', edOrg: 'localEducationAgencyId', schema: 'edFi_localEducationAgency', identity: ['localEducationAgencyId'], title: 'LocalEducationAgency', order: 2,
    keyOf: (doc) => ({ localEducationAgencyId: doc.localEducationAgencyId }),
    view: views.localEducationAgencies!,
    async write(ctx, doc, existing) {
      return merge(ctx, 'org', existing?.sourcedId, () => ({ sourcedId: existing?.sourcedId ?? edfiIds.org(doc.localEducationAgencyId), ...edfiFields.localEducationAgency(doc) }));
    },
    remove: tombstone('org'),
    dependents: (e) => firstOf([
      ['School', sql`select 1 from org o where o.status = 'active' and o.parent_sourced_id = ${e.sourcedId}`],
      ['Course', sql`select 1 from course c where c.status = 'active' and c.org_sourced_id = ${e.sourcedId}`],
    ]),
  },
  {
    name: 'schools', edOrg: 'schoolId', schema: 'edFi_school', identity: ['schoolId'], title: 'School', order: 3,
    keyOf: (doc) => ({ schoolId: doc.schoolId }),
    view: views.schools!,
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const lea = await refs.optional('localEducationAgencies', 'LocalEducationAgency', doc.localEducationAgencyReference, '$.localEducationAgencyReference');
      refs.check();
      return merge(ctx, 'org', existing?.sourcedId, () => ({ sourcedId: existing?.sourcedId ?? edfiIds.org(doc.schoolId), ...edfiFields.school(doc, lea?.sourcedId) }));
    },
    remove: tombstone('org'),
    dependents: (e) => firstOf([
      ['StudentSchoolAssociation', sql`select 1 from user_role r join "user" u on u.sourced_id = r.user_sourced_id where r.org_sourced_id = ${e.sourcedId} and u.status = 'active'`],
      ['Course', sql`select 1 from course c where c.status = 'active' and c.org_sourced_id = ${e.sourcedId}`],
      ['Section', sql`select 1 from class c where c.status = 'active' and c.school_sourced_id = ${e.sourcedId}`],
      ['Session', sql`select 1 from academic_session a where a.status = 'active' and a.edfi_key->>'schoolId' = ${String(e.keys.schoolId)}`],
    ]),
  },
  {
    name: 'sessions', edOrg: 'schoolId', schema: 'edFi_session', identity: ['schoolId', 'schoolYear', 'sessionName'], title: 'Session', keyUpdatable: true, order: 5,
    keyOf: (doc) => ({ schoolId: doc.schoolReference?.schoolId, schoolYear: doc.schoolYearTypeReference?.schoolYear, sessionName: doc.sessionName }),
    view: views.sessions!,
    async write(ctx, doc, existing) {
      const { schoolId, schoolYear } = await schoolAndYear(ctx, doc);
      return merge(ctx, 'academicSession', existing?.sourcedId, () => ({ sourcedId: existing?.sourcedId ?? edfiIds.session(schoolId, schoolYear, doc.sessionName), ...edfiFields.session(doc) }));
    },
    remove: tombstone('academicSession'),
    dependents: (e) => firstOf([
      ['Section', sql`select 1 from class c where c.status = 'active' and c.term_sourced_ids @> array[${e.sourcedId}::text]`],
      ['CourseOffering', sql`select 1 from edfi_document d where d.resource = 'courseOfferings' and d.status = 'active'
        and d.key_values->>'schoolId' = ${String(e.keys.schoolId)} and d.key_values->>'schoolYear' = ${String(e.keys.schoolYear)}
        and d.key_values->>'sessionName' = ${String(e.keys.sessionName)}`],
    ]),
  },
  {
    name: 'courses', edOrg: 'educationOrganizationId', schema: 'edFi_course', identity: ['courseCode', 'educationOrganizationId'], title: 'Course', order: 4,
    keyOf: (doc) => ({ courseCode: doc.courseCode, educationOrganizationId: doc.educationOrganizationReference?.educationOrganizationId }),
    view: views.courses!,
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const edOrgId = doc.educationOrganizationReference.educationOrganizationId;
      const org = await refs.get('educationOrganizations', 'EducationOrganization', { educationOrganizationId: edOrgId }, '$.educationOrganizationReference');
      refs.check();
      return merge(ctx, 'course', existing?.sourcedId, () => ({ sourcedId: existing?.sourcedId ?? edfiIds.course(edOrgId, doc.courseCode), ...edfiFields.course(doc, org!.sourcedId) }));
    },
    remove: tombstone('course'),
    dependents: (e) => firstOf([
      ['Section', sql`select 1 from class c where c.status = 'active' and c.course_sourced_id = ${e.sourcedId}`],
      ['CourseOffering', sql`select 1 from edfi_document d where d.resource = 'courseOfferings' and d.status = 'active'
        and d.body->'courseReference'->>'courseCode' = ${String(e.keys.courseCode)}
        and d.body->'courseReference'->>'educationOrganizationId' = ${String(e.keys.educationOrganizationId)}`],
    ]),
  },
  {
    name: 'courseOfferings', edOrg: 'schoolId', schema: 'edFi_courseOffering', identity: ['localCourseCode', 'schoolId', 'schoolYear', 'sessionName'], title: 'CourseOffering', order: 6,
    keyOf: (doc) => ({
      localCourseCode: doc.localCourseCode, schoolId: doc.schoolReference?.schoolId, schoolYear: doc.sessionReference?.schoolYear, sessionName: doc.sessionReference?.sessionName,
    }),
    view: views.courseOfferings!,
    async write(ctx, doc, existing) {
      unify(doc.schoolReference.schoolId, doc.sessionReference.schoolId, '$.sessionReference.schoolId', 'schoolId');
      const refs = new References(ctx);
      await Promise.all([
        refs.get('courses', 'Course', doc.courseReference, '$.courseReference'),
        refs.get('schools', 'School', doc.schoolReference, '$.schoolReference'),
        refs.get('sessions', 'Session', doc.sessionReference, '$.sessionReference'),
      ]);
      refs.check();
      const key = this.keyOf(doc);
      return saveDocument(ctx.em, 'courseOfferings', JSON.stringify(Object.values(key)), key, extras(doc, []) ?? {}, existing?.id);
    },
    remove: removeDocument,
    dependents: (e) => firstOf([['Section', sql`select 1 from class c where c.status = 'active' and c.edfi_key->>'localCourseCode' = ${String(e.keys.localCourseCode)}
      and c.edfi_key->>'schoolId' = ${String(e.keys.schoolId)} and c.edfi_key->>'schoolYear' = ${String(e.keys.schoolYear)}
      and c.edfi_key->>'sessionName' = ${String(e.keys.sessionName)}`]]),
  },
  {
    name: 'sections', edOrg: 'schoolId', schema: 'edFi_section', identity: ['localCourseCode', 'schoolId', 'schoolYear', 'sectionIdentifier', 'sessionName'], title: 'Section',
    keyUpdatable: true, order: 7,
    keyOf: (doc) => ({ ...doc.courseOfferingReference, sectionIdentifier: doc.sectionIdentifier }),
    view: views.sections!,
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const o = doc.courseOfferingReference as Doc;
      const offering = await refs.get('courseOfferings', 'CourseOffering', o, '$.courseOfferingReference', true);
      refs.check();
      const [course, school, session] = await Promise.all([
        refs.get('courses', 'Course', offering!.doc!.courseReference, '$.courseOfferingReference'),
        refs.get('schools', 'School', { schoolId: o.schoolId }, '$.courseOfferingReference'),
        refs.get('sessions', 'Session', { schoolId: o.schoolId, schoolYear: o.schoolYear, sessionName: o.sessionName }, '$.courseOfferingReference'),
      ]);
      refs.check();
      const written = await merge(ctx, 'class', existing?.sourcedId, (prev) => ({
        sourcedId: existing?.sourcedId ?? edfiIds.section(sectionKeyOf(doc)),
        ...edfiFields.section(doc, { courseSourcedId: course!.sourcedId, schoolSourcedId: school!.sourcedId, termSourcedId: session!.sourcedId }, prev?.classType),
      }));
      if (existing && keyString(existing.keys) !== keyString(sectionKeyOf(doc))) await cascadeSectionKey(ctx, existing.sourcedId, sectionKeyOf(doc));
      return written;
    },
    remove: tombstone('class'),
    dependents: (e) => firstOf([
      ['StudentSectionAssociation', sql`select 1 from enrollment n where n.status = 'active' and n.class_sourced_id = ${e.sourcedId} and n.role = 'student'`],
      ['StaffSectionAssociation', sql`select 1 from enrollment n where n.status = 'active' and n.class_sourced_id = ${e.sourcedId}`],
    ]),
  },
  person('student', (e) => firstOf([
    ['StudentSchoolAssociation', sql`select 1 from user_role r where r.user_sourced_id = ${e.sourcedId} and r.role = 'student'`],
    ['StudentSectionAssociation', sql`select 1 from enrollment n where n.status = 'active' and n.user_sourced_id = ${e.sourcedId}`],
  ])),
  person('staff', (e) => firstOf([['StaffSectionAssociation', sql`select 1 from enrollment n where n.status = 'active' and n.user_sourced_id = ${e.sourcedId}`]])),
  {
    name: 'studentSchoolAssociations', edOrg: 'schoolId', schema: 'edFi_studentSchoolAssociation', identity: ['entryDate', 'schoolId', 'studentUniqueId'],
    title: 'StudentSchoolAssociation', keyUpdatable: true, order: 5,
    keyOf: (doc) => ({ entryDate: doc.entryDate, schoolId: doc.schoolReference?.schoolId, studentUniqueId: doc.studentReference?.studentUniqueId }),
    view: views.studentSchoolAssociations!,
    prefetch(ahead, doc) {
      void ahead.find('students', doc.studentReference);
      void ahead.find('schools', doc.schoolReference);
      void ahead.record('user', 'students', doc.studentReference);
    },
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const [student, school, prev] = await Promise.all([
        refs.get('students', 'Student', doc.studentReference, '$.studentReference'),
        refs.get('schools', 'School', doc.schoolReference, '$.schoolReference'),
        ctx.record('user', 'students', doc.studentReference),
      ]);
      refs.check();
      if (existing && existing.sourcedId !== student!.sourcedId) {
        throw new Invalid('$.studentReference', 'A school association cannot move to another student; delete it and create a new one.');
      }
      // Read apart from the lookup: a student changed in between is written by its latest record, whose hash the write checks.
      const { record: user, hash } = (prev?.record.sourcedId === student!.sourcedId ? prev : await stored(ctx.em, 'user', student!.sourcedId))!;
      const roles = (user.roles as RoleRecord[] | undefined) ?? [];
      // The role behind the association: the one a PUT names (its key may change), else the one with this key.
      const [org, begin] = existing ? [existing.roleOrg, existing.roleBegin] : [school!.sourcedId, doc.entryDate];
      const old = studentRoleAt(roles, org, begin);
      // A changed key keeps the association's id.
      const keptId = (old?.edfi?.id as string | undefined) ?? (existing && (org !== school!.sourcedId || !sameDate(begin, doc.entryDate)) ? existing.id : undefined);
      const next = placeRole(roles, old, schoolAssociationRole(doc, school!.sourcedId, old, roles, keptId));
      const grade = gradeOf(next);
      const result = await writeRecord(ctx.em, ctx.sourceId, 'user', { ...user, ...personKey(user, 'studentUniqueId'), roles: next, ...(grade ? { grades: [grade] } : {}) } as never, hash);
      return asAssociation(result, old, (keptId as string | undefined) ?? edfiIds.role('SSA', student!.sourcedId, school!.sourcedId, doc.entryDate));
    },
    remove: (ctx, existing) =>
      dropRoles(ctx, existing, 'studentUniqueId', (r) => r.role === 'student' && r.orgSourcedId === existing.roleOrg && sameDate(r.beginDate, existing.roleBegin)),
  },
  {
    name: 'studentSectionAssociations', edOrg: 'schoolId', schema: 'edFi_studentSectionAssociation',
    identity: ['beginDate', 'localCourseCode', 'schoolId', 'schoolYear', 'sectionIdentifier', 'sessionName', 'studentUniqueId'],
    title: 'StudentSectionAssociation', keyUpdatable: true, order: 8,
    keyOf: (doc) => ({ beginDate: doc.beginDate, ...doc.sectionReference, studentUniqueId: doc.studentReference?.studentUniqueId }),
    view: views.studentSectionAssociations!,
    ...sectionAssociation('student'),
    remove: tombstone('enrollment'),
  },
  {
    name: 'staffSectionAssociations', edOrg: 'schoolId', schema: 'edFi_staffSectionAssociation',
    identity: ['beginDate', 'localCourseCode', 'schoolId', 'schoolYear', 'sectionIdentifier', 'sessionName', 'staffUniqueId'],
    title: 'StaffSectionAssociation', order: 8,
    keyOf: (doc) => ({ beginDate: doc.beginDate, ...doc.sectionReference, staffUniqueId: doc.staffReference?.staffUniqueId }),
    view: views.staffSectionAssociations!,
    ...sectionAssociation('staff'),
    remove: tombstone('enrollment'),
  },
  {
    name: 'gradingPeriods', edOrg: 'schoolId', schema: 'edFi_gradingPeriod', identity: ['gradingPeriodDescriptor', 'gradingPeriodName', 'schoolId', 'schoolYear'],
    title: 'GradingPeriod', order: 4,
    keyOf: (doc) => ({ gradingPeriodDescriptor: doc.gradingPeriodDescriptor, gradingPeriodName: doc.gradingPeriodName,
      schoolId: doc.schoolReference?.schoolId, schoolYear: doc.schoolYearTypeReference?.schoolYear }),
    view: views.gradingPeriods!,
    async write(ctx, doc, existing) {
      const { schoolId, schoolYear } = await schoolAndYear(ctx, doc);
      return merge(ctx, 'academicSession', existing?.sourcedId, () => ({
        sourcedId: existing?.sourcedId ?? edfiIds.gradingPeriod(schoolId, schoolYear, doc.gradingPeriodDescriptor, doc.gradingPeriodName), ...edfiFields.gradingPeriod(doc),
      }));
    },
    remove: tombstone('academicSession'),
  },
  person('contact', (e) => firstOf([['StudentContactAssociation', sql`select 1 from "user" s where s.status = 'active' and s.agent_sourced_ids @> array[${e.sourcedId}::text]`]])),
  {
    name: 'studentContactAssociations', edOrg: 'person', schema: 'edFi_studentContactAssociation', identity: ['contactUniqueId', 'studentUniqueId'],
    title: 'StudentContactAssociation', order: 5,
    keyOf: (doc) => ({ contactUniqueId: doc.contactReference?.contactUniqueId, studentUniqueId: doc.studentReference?.studentUniqueId }),
    view: views.studentContactAssociations!,
    async write(ctx, doc) {
      const refs = new References(ctx);
      const [student, contact] = await Promise.all([
        refs.get('students', 'Student', doc.studentReference, '$.studentReference'),
        refs.get('contacts', 'Contact', doc.contactReference, '$.contactReference'),
      ]);
      refs.check();
      // The contact becomes the student's agent, with a role (from the relation) at the student's orgs.
      const people = await readRecords(ctx.em, 'user', [student!.sourcedId, contact!.sourcedId]);
      const s = asStored(people.get(student!.sourcedId)!);
      const c = asStored(people.get(contact!.sourcedId)!);
      const agents = (s.record.agentSourcedIds as string[] | undefined) ?? [];
      const roles = contactRoles((c.record.roles as RoleRecord[] | undefined) ?? [], (s.record.roles as RoleRecord[] | undefined) ?? [], doc.relationDescriptor);
      const writes: RecordWrite[] = [];
      if (!agents.includes(contact!.sourcedId)) {
        writes.push({ entity: 'user', expectedHash: s.hash, record: { ...s.record, ...personKey(s.record, 'studentUniqueId'), agentSourcedIds: [...agents, contact!.sourcedId] } as never });
      }
      if (roles) {
        writes.push({ entity: 'user', expectedHash: c.hash, record: { ...c.record, ...personKey(c.record, 'contactUniqueId'), roles } as never });
      }
      if (writes.length) await writeRecords(ctx.em, ctx.sourceId, writes);
      const key = this.keyOf(doc);
      const saved = await saveDocument(ctx.em, 'studentContactAssociations', `${student!.sourcedId}|${contact!.sourcedId}`, key,
        extras(doc, ['contactReference', 'studentReference']) ?? {});
      const linked = await ctx.find('studentContactAssociations', key);
      return { ...saved, edfiId: linked!.id, etag: linked!.etag, outcome: agents.includes(contact!.sourcedId) ? saved.outcome : 'created' };
    },
    async remove(ctx, existing) {
      const { record, hash } = (await stored(ctx.em, 'user', existing.sourcedId))!;
      const contact = (await ctx.find('contacts', { contactUniqueId: existing.keys.contactUniqueId }))!;
      const agents = ((record.agentSourcedIds as string[] | undefined) ?? []).filter((a) => a !== contact.sourcedId);
      await writeRecord(ctx.em, ctx.sourceId, 'user', { ...record, agentSourcedIds: agents.length ? agents : undefined } as never, hash);
      await sql`update edfi_document set status = 'tobedeleted' where resource = 'studentContactAssociations'
        and natural_key = ${`${existing.sourcedId}|${contact.sourcedId}`}`.execute(ctx.em.getKysely());
    },
  },
  {
    name: 'studentEducationOrganizationAssociations', edOrg: 'educationOrganizationId', schema: 'edFi_studentEducationOrganizationAssociation',
    identity: ['educationOrganizationId', 'studentUniqueId'], title: 'StudentEducationOrganizationAssociation', order: 5,
    keyOf: (doc) => ({ educationOrganizationId: doc.educationOrganizationReference?.educationOrganizationId, studentUniqueId: doc.studentReference?.studentUniqueId }),
    view: views.studentEducationOrganizationAssociations!,
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const [student] = await Promise.all([
        refs.get('students', 'Student', doc.studentReference, '$.studentReference'),
        refs.get('educationOrganizations', 'EducationOrganization', doc.educationOrganizationReference, '$.educationOrganizationReference'),
      ]);
      refs.check();
      const key = this.keyOf(doc);
      const saved = await saveDocument(ctx.em, 'studentEducationOrganizationAssociations', `${key.educationOrganizationId}|${key.studentUniqueId}`, key,
        extras(doc, []) ?? {}, existing && /^[0-9a-f-]{36}$/.test(existing.sourcedId) ? existing.id : undefined);
      await projectDemographics(ctx, student!.sourcedId, String(key.studentUniqueId));
      return saved;
    },
    async remove(ctx, existing) {
      if (!(await tombstoneDocument(ctx.em, existing.id))) return;
      const student = await ctx.find('students', { studentUniqueId: existing.keys.studentUniqueId });
      if (student) await projectDemographics(ctx, student.sourcedId, String(existing.keys.studentUniqueId));
    },
  },
  {
    name: 'staffEducationOrganizationAssignmentAssociations', edOrg: 'educationOrganizationId', schema: 'edFi_staffEducationOrganizationAssignmentAssociation',
    identity: ['beginDate', 'educationOrganizationId', 'staffClassificationDescriptor', 'staffUniqueId'],
    title: 'StaffEducationOrganizationAssignmentAssociation', order: 5,
    keyOf: (doc) => ({ beginDate: doc.beginDate, educationOrganizationId: doc.educationOrganizationReference?.educationOrganizationId,
      staffClassificationDescriptor: doc.staffClassificationDescriptor, staffUniqueId: doc.staffReference?.staffUniqueId }),
    view: views.staffEducationOrganizationAssignmentAssociations!,
    async write(ctx, doc, existing) {
      const refs = new References(ctx);
      const [staff, org] = await Promise.all([
        refs.get('staffs', 'Staff', doc.staffReference, '$.staffReference'),
        refs.get('educationOrganizations', 'EducationOrganization', doc.educationOrganizationReference, '$.educationOrganizationReference'),
      ]);
      refs.check();
      const { record: user, hash } = (await stored(ctx.em, 'user', staff!.sourcedId))!;
      const roles = (user.roles as RoleRecord[] | undefined) ?? [];
      const { old, role } = assignmentRole(doc, org!.sourcedId, roles);
      const result = await writeRecord(ctx.em, ctx.sourceId, 'user', { ...user, ...personKey(user, 'staffUniqueId'), roles: placeRole(roles, old, role) } as never, hash);
      return asAssociation(result, old, edfiIds.role('SEOAA', staff!.sourcedId, org!.sourcedId, doc.beginDate, role.role));
    },
    remove: (ctx, existing) =>
      dropRoles(ctx, existing, 'staffUniqueId', (r) => r.orgSourcedId === existing.roleOrg && sameDate(r.beginDate, existing.roleBegin) && r.role === existing.roleName),
  },
];

export const edfiResources: readonly EdfiResource[] = [...descriptorResources, ...coreResources];

const byName = new Map(edfiResources.map((r) => [r.name.toLowerCase(), r]));
/** Route names are case-insensitive (Ed-Fi URL guideline). */
export const resourceNamed = (name: string) => byName.get(name.toLowerCase());

/** Views references resolve against that are not served as resources: an abstract educationOrganizationReference. */
export const referenceViews: Record<string, View> = {
  educationOrganizations: {
    from: sql.raw(`select t.sourced_id, t.edfi_id as id, t.status, t.change_version as cv, t.etag, t.date_last_modified as lm,
      edfi_org_id(t.identifier, t.sourced_id) as "educationOrganizationId", '{}'::jsonb as doc from org t`),
    params: { educationOrganizationId: 'integer' },
  },
};
