import { createHash } from 'node:crypto';
import type { RoleRecord } from '../../src/sync/records.ts';
import { codeValue, contactRole, gradeCodes, raceFlags, sessionType, sexOf, staffRole } from './vocabulary.ts';

/**
 * How an Ed-Fi item becomes canonical records: its ids (edfi-oneroster's `md5` of the natural key,
 * docs/mapping.md) and its fields. The Ed-Fi door (resources.ts) applies these one item at a time,
 * resolving references against the store; the Ed-Fi source connector (connectors/edfi) applies them
 * to whole listings. One set of rules, so the same data gets the same ids and fields through either.
 */

export type Doc = Record<string, any>;

export const md5 = (text: string) => createHash('md5').update(text).digest('hex');
/** 32 hex digits as a dashed UUID. */
export const dashed = (hex: string) => hex.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

export type PersonKind = 'student' | 'staff' | 'contact';
export const personIds = { student: 'studentUniqueId', staff: 'staffUniqueId', contact: 'contactUniqueId' } as const;
const personPrefix = { student: 'STU-', staff: 'STA-', contact: 'PAR-' } as const;

/** The five members of a section's key (a sectionReference). */
export interface SectionKey { localCourseCode: string; schoolId: number; schoolYear: number; sectionIdentifier: string; sessionName: string }

const lower = (v: unknown) => String(v).toLowerCase();

/** The sourcedId an item created through Ed-Fi gets, by resource kind. */
export const edfiIds = {
  org: (edOrgId: unknown) => md5(String(edOrgId)),
  session: (schoolId: unknown, schoolYear: unknown, sessionName: unknown) => md5(`${schoolId}-${schoolYear}-${sessionName}`),
  gradingPeriod: (schoolId: unknown, schoolYear: unknown, descriptor: unknown, name: unknown) => md5(`${schoolId}-${schoolYear}-${codeValue(descriptor)}-${name}`),
  course: (edOrgId: unknown, courseCode: unknown) => md5(`${edOrgId}-${courseCode}`),
  section: (k: SectionKey) => md5(`${lower(k.localCourseCode)}-${k.schoolId}-${k.schoolYear}-${lower(k.sectionIdentifier)}-${lower(k.sessionName)}`),
  person: (kind: PersonKind, uid: unknown) => md5(`${personPrefix[kind]}${uid}`),
  sectionAssociation: (uid: unknown, s: SectionKey, beginDate: unknown) =>
    md5(`${uid}-${s.localCourseCode}-${s.schoolId}-${s.schoolYear}-${s.sectionIdentifier}-${s.sessionName}-${beginDate}`),
  /** As ssaIdSql / seoaaIdSql (src/db/entities.ts) compute them: the begin date as days since 2000-01-01. */
  role: (prefix: 'SSA' | 'SEOAA', user: string, org: string, begin: string | null | undefined, role?: string) =>
    dashed(md5(`${prefix}-${user}-${org}-${begin ? Math.round((Date.parse(begin) - Date.parse('2000-01-01')) / 86_400_000) : ''}${role ? `-${role}` : ''}`)),
};

/** A section's key from its courseOfferingReference and identifier. */
export const sectionKeyOf = (doc: Doc): SectionKey => {
  const o = doc.courseOfferingReference as Doc;
  return { localCourseCode: o.localCourseCode, schoolId: o.schoolId, schoolYear: o.schoolYear, sectionIdentifier: doc.sectionIdentifier, sessionName: o.sessionName };
};

const metaFields = new Set(['id', '_etag', '_lastModifiedDate', 'link']);
/** What is left of a body once the mapped fields are taken out: kept as sent (minus reference links). */
export function extras(doc: Doc, mapped: readonly string[]): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!mapped.includes(k) && !metaFields.has(k)) out[k] = withoutLinks(v);
  return Object.keys(out).length ? out : undefined;
}
function withoutLinks(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLinks);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'link').map(([k, v]) => [k, withoutLinks(v)]));
  return value;
}

/** Record fields (all but sourcedId) of each Ed-Fi resource that is a canonical row; references come resolved. */
export const edfiFields = {
  localEducationAgency: (doc: Doc) => ({
    name: doc.nameOfInstitution, type: 'district', identifier: String(doc.localEducationAgencyId),
    edfiKey: { localEducationAgencyId: doc.localEducationAgencyId }, edfi: extras(doc, ['localEducationAgencyId', 'nameOfInstitution']),
  }),
  school: (doc: Doc, parentSourcedId: string | undefined) => ({
    name: doc.nameOfInstitution, type: 'school', identifier: String(doc.schoolId), parentSourcedId,
    edfiKey: { schoolId: doc.schoolId }, edfi: extras(doc, ['schoolId', 'nameOfInstitution', 'localEducationAgencyReference']),
  }),
  session: (doc: Doc) => {
    const schoolId = doc.schoolReference.schoolId;
    const schoolYear = doc.schoolYearTypeReference.schoolYear;
    return {
      title: doc.sessionName, type: sessionType(doc.termDescriptor), startDate: doc.beginDate, endDate: doc.endDate, schoolYear: String(schoolYear),
      edfiKey: { schoolId, schoolYear, sessionName: doc.sessionName },
      edfi: extras(doc, ['sessionName', 'schoolReference', 'schoolYearTypeReference', 'beginDate', 'endDate']),
    };
  },
  gradingPeriod: (doc: Doc) => ({
    title: doc.gradingPeriodName, type: 'gradingPeriod', startDate: doc.beginDate, endDate: doc.endDate, schoolYear: String(doc.schoolYearTypeReference.schoolYear),
    edfiKey: { gradingPeriodDescriptor: doc.gradingPeriodDescriptor, gradingPeriodName: doc.gradingPeriodName,
      schoolId: doc.schoolReference?.schoolId, schoolYear: doc.schoolYearTypeReference?.schoolYear },
    edfi: extras(doc, ['gradingPeriodName', 'schoolReference', 'schoolYearTypeReference', 'beginDate', 'endDate']),
  }),
  course: (doc: Doc, orgSourcedId: string) => ({
    title: doc.courseTitle, courseCode: doc.courseCode, orgSourcedId,
    edfiKey: { courseCode: doc.courseCode, educationOrganizationId: doc.educationOrganizationReference.educationOrganizationId },
    edfi: extras(doc, ['courseCode', 'courseTitle', 'educationOrganizationReference']),
  }),
  section: (doc: Doc, refs: { courseSourcedId: string; schoolSourcedId: string; termSourcedId: string }, prevClassType?: string) => ({
    title: doc.sectionName ?? doc.sectionIdentifier, classCode: doc.sectionIdentifier, classType: prevClassType ?? 'scheduled',
    courseSourcedId: refs.courseSourcedId, schoolSourcedId: refs.schoolSourcedId, termSourcedIds: [refs.termSourcedId],
    edfiKey: sectionKeyOf(doc), edfi: extras(doc, ['sectionIdentifier', 'sectionName', 'courseOfferingReference']),
  }),
  /** A student, staff member or contact over the stored user (if any): roles, agents and other sources' fields stay. */
  person: (kind: PersonKind, doc: Doc, sourcedId: string, user: Doc | undefined) => {
    const idField = personIds[kind];
    const uid = String(doc[idField]);
    const userIds = [...((user?.userIds as { type: string; identifier: string }[] | undefined) ?? []).filter((u) => u.type !== idField), { type: idField, identifier: uid }];
    const email = kind !== 'student' ? (doc.electronicMails as Doc[] | undefined)?.[0]?.electronicMailAddress : undefined;
    const mapped = [idField, 'firstName', 'lastSurname', 'middleName', 'preferredFirstName', 'preferredLastSurname', ...(kind === 'student' ? ['birthDate'] : ['loginId'])];
    return {
      ...user,
      sourcedId,
      enabledUser: user?.enabledUser ?? true,
      givenName: doc.firstName,
      familyName: doc.lastSurname,
      middleName: doc.middleName,
      preferredFirstName: doc.preferredFirstName,
      preferredLastName: doc.preferredLastSurname,
      identifier: uid,
      userIds,
      ...(kind !== 'student' ? { username: doc.loginId ?? user?.username, email: email ?? user?.email } : {}),
      roles: (user?.roles as RoleRecord[] | undefined) ?? [],
      edfiKey: { [idField]: uid },
      edfi: extras(doc, mapped),
    };
  },
  /** A student's demographics over the stored ones: birth date and birth sex. */
  studentDemographics: (doc: Doc, sourcedId: string, prev: Doc | undefined) => ({
    ...prev, sourcedId, birthDate: doc.birthDate, sex: sexOf(doc.birthSexDescriptor) ?? prev?.sex,
  }),
  sectionAssociation: (kind: 'student' | 'staff', doc: Doc, refs: { classSourcedId: string; schoolSourcedId: string; userSourcedId: string }) => {
    const personRef = kind === 'student' ? 'studentReference' : 'staffReference';
    const idField = personIds[kind];
    return {
      classSourcedId: refs.classSourcedId,
      schoolSourcedId: refs.schoolSourcedId,
      userSourcedId: refs.userSourcedId,
      role: kind === 'student' ? 'student' : 'teacher',
      primary: kind === 'staff' && codeValue(doc.classroomPositionDescriptor) === 'Teacher of Record',
      beginDate: doc.beginDate,
      endDate: doc.endDate,
      edfiKey: { ...doc.sectionReference, [idField]: doc[personRef][idField], beginDate: doc.beginDate },
      edfi: extras(doc, ['beginDate', 'endDate', 'sectionReference', personRef]),
    };
  },
};

/** The same begin date (absent equals absent). */
export const sameDate = (a: string | null | undefined, b: string | null | undefined) => (a ?? null) === (b ?? null);

/** A new role's type: primary while the person has none. */
export const roleTypeFor = (roles: readonly RoleRecord[]) => (roles.some((r) => r.roleType === 'primary') ? 'secondary' : 'primary');

/** A person's roles with `role` in place of `old`, or added. */
export const placeRole = (roles: RoleRecord[], old: RoleRecord | undefined, role: RoleRecord) => (old ? roles.map((r) => (r === old ? role : r)) : [...roles, role]);

/** A student's role behind a studentSchoolAssociation. `keptId`: the association's id, kept because its key changed. */
export function schoolAssociationRole(doc: Doc, schoolSourcedId: string, old: RoleRecord | undefined, roles: readonly RoleRecord[], keptId?: string): RoleRecord {
  return {
    ...(old?.sourcedId ? { sourcedId: old.sourcedId } : {}),
    roleType: old?.roleType ?? roleTypeFor(roles),
    role: 'student', orgSourcedId: schoolSourcedId, beginDate: doc.entryDate, endDate: doc.exitWithdrawDate,
    edfi: { ...extras(doc, ['entryDate', 'schoolReference', 'studentReference', 'exitWithdrawDate']), ...(keptId ? { id: keptId } : {}) },
  };
}

/** The student's school role that a studentSchoolAssociation key names. */
export const studentRoleAt = (roles: readonly RoleRecord[], schoolSourcedId: string | undefined, entryDate: string | null | undefined) =>
  roles.find((r) => r.role === 'student' && r.orgSourcedId === schoolSourcedId && sameDate(r.beginDate, entryDate));

/** The user's grade: the entry grade of their latest school association. */
export function gradeOf(roles: readonly RoleRecord[]): string | undefined {
  const latest = roles.filter((r) => r.role === 'student' && r.edfi?.entryGradeLevelDescriptor).sort((a, b) => String(b.beginDate).localeCompare(String(a.beginDate)))[0];
  return latest && gradeCodes[codeValue(latest.edfi!.entryGradeLevelDescriptor) ?? ''];
}

/** A staff member's role behind a staffEducationOrganizationAssignmentAssociation. */
export function assignmentRole(doc: Doc, orgSourcedId: string, roles: readonly RoleRecord[]): { old?: RoleRecord; role: RoleRecord } {
  const role = staffRole(doc.staffClassificationDescriptor);
  const old = assignmentRoleAt(roles, orgSourcedId, doc.beginDate, role);
  return {
    old,
    role: {
      ...(old?.sourcedId ? { sourcedId: old.sourcedId } : {}),
      roleType: old?.roleType ?? roleTypeFor(roles),
      role, orgSourcedId, beginDate: doc.beginDate, endDate: doc.endDate,
      edfi: extras(doc, ['beginDate', 'educationOrganizationReference', 'staffReference', 'endDate']),
    },
  };
}

export const assignmentRoleAt = (roles: readonly RoleRecord[], orgSourcedId: string | undefined, beginDate: string | null | undefined, role: string) =>
  roles.find((r) => r.orgSourcedId === orgSourcedId && sameDate(r.beginDate, beginDate) && r.role === role);

/** Staff seen only through section associations teach at the section's school (as edfi-oneroster reads them): the roles with that one added, or undefined if it is there. */
export function teachingRole(roles: readonly RoleRecord[], schoolSourcedId: string): RoleRecord[] | undefined {
  if (roles.some((r) => r.orgSourcedId === schoolSourcedId)) return undefined;
  return [...roles, { roleType: roleTypeFor(roles), role: 'teacher', orgSourcedId: schoolSourcedId }];
}

/** A contact's roles once linked to a student: one (from the relation) at each of the student's orgs the contact has none at. */
export function contactRoles(contactRolesNow: readonly RoleRecord[], studentRoles: readonly RoleRecord[], relation: string | undefined): RoleRecord[] | undefined {
  const role = contactRole(relation);
  const orgs = [...new Set(studentRoles.map((r) => r.orgSourcedId))].filter((o) => !contactRolesNow.some((r) => r.orgSourcedId === o));
  if (!orgs.length) return undefined;
  return [...contactRolesNow, ...orgs.map((o, i): RoleRecord => ({ roleType: contactRolesNow.length || i ? 'secondary' : 'primary', role, orgSourcedId: o }))];
}

/**
 * A student's demographics from their studentEducationOrganizationAssociations (oldest first): races
 * and ethnicity unioned across every education organization (as edfi-oneroster resolves them), sex
 * from the latest one that states it; birth data stays as the student record set it.
 */
export function associationDemographics(bodies: readonly Doc[], sourcedId: string, prev: Doc | undefined): Doc {
  const races = new Set(bodies.flatMap((b) => ((b.races as Doc[] | undefined) ?? []).map((x) => codeValue(x.raceDescriptor))));
  const sex = bodies.map((b) => sexOf(b.sexDescriptor)).filter(Boolean).at(-1);
  const hispanic = bodies.some((b) => b.hispanicLatinoEthnicity === true) || (bodies.some((b) => b.hispanicLatinoEthnicity === false) ? false : undefined);
  const flags = Object.fromEntries(Object.entries(raceFlags).map(([flag, code]) => [flag, races.has(code)]));
  const known = [...races].filter((r) => Object.values(raceFlags).includes(r!));
  return {
    ...prev, sourcedId, ...(bodies.length ? { ...flags, demographicRaceTwoOrMoreRaces: known.length > 1 } : {}),
    sex: sex ?? prev?.sex, hispanicOrLatinoEthnicity: hispanic ?? prev?.hispanicOrLatinoEthnicity,
  };
}
