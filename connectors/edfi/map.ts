import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { readRecords } from '../../src/sync/read.ts';
import { clean } from '../../src/sync/pull.ts';
import type { RoleRecord } from '../../src/sync/records.ts';
import {
  assignmentRole, assignmentRoleAt, associationDemographics, contactRoles, edfiFields, edfiIds, gradeOf, personIds, placeRole, schoolAssociationRole,
  sectionKeyOf, studentRoleAt, teachingRole, type Doc, type PersonKind, type SectionKey,
} from '../../standards/edfi/canonical.ts';
import { normaliseId } from '../../standards/edfi/query.ts';
import { staffRole } from '../../standards/edfi/vocabulary.ts';

/**
 * Ed-Fi items to canonical records by the rules the Ed-Fi door writes with (standards/edfi/
 * canonical.ts), so an item gets the same sourcedId here as it has in the gateway it came from.
 * References resolve by those same rules, except for items whose key changed after this source first
 * sent them: they keep the sourcedId they had (as the door keeps it), found by the item's Ed-Fi id,
 * which every record of this connector keeps as its nativeKey.
 */

/** Entities whose Ed-Fi key can change (x-Ed-Fi-isUpdatable: sessions, sections, section associations). */
type KeptEntity = 'academicSession' | 'class' | 'enrollment';
const TABLES: Record<KeptEntity, string> = { academicSession: 'academic_session', class: 'class', enrollment: 'enrollment' };

const sessionKey = (schoolId: unknown, schoolYear: unknown, sessionName: unknown) => JSON.stringify([String(schoolId), String(schoolYear), String(sessionName)]);
const sectionKey = (k: SectionKey) => JSON.stringify([k.localCourseCode, k.schoolId, k.schoolYear, k.sectionIdentifier, k.sessionName].map(String));
export const offeringKey = (k: { localCourseCode: unknown; schoolId: unknown; schoolYear: unknown; sessionName: unknown }) =>
  JSON.stringify([k.localCourseCode, k.schoolId, k.schoolYear, k.sessionName].map(String));

/** The sourcedId a stored row's Ed-Fi key gives it. */
function idOfKey(entity: KeptEntity, k: Doc): string {
  if (entity === 'class') return edfiIds.section(k as SectionKey);
  if (entity === 'enrollment') return edfiIds.sectionAssociation(k.studentUniqueId ?? k.staffUniqueId, k as SectionKey, k.beginDate);
  return k.gradingPeriodName !== undefined ? edfiIds.gradingPeriod(k.schoolId, k.schoolYear, k.gradingPeriodDescriptor, k.gradingPeriodName) : edfiIds.session(k.schoolId, k.schoolYear, k.sessionName);
}

export class EdfiMapper {
  readonly #em: EntityManager;
  readonly #sourceId: number;
  /** Per entity: Ed-Fi id → sourcedId of this source's rows (of the items at hand: enrollments are looked up a page at a time). */
  readonly #known = new Map<KeptEntity, Map<string, string>>();
  /** Ed-Fi id → sourcedId of items whose key changed in this run's window. */
  readonly #changed = new Map<string, string>();
  /** Current key → sourcedId of sessions and sections that differ from the rule (kept ones). */
  readonly #sessions = new Map<string, string>();
  readonly #sections = new Map<string, string>();

  constructor(em: EntityManager, sourceId: number) {
    this.#em = em;
    this.#sourceId = sourceId;
  }

  /**
   * Loads the sourcedIds this source's rows of these Ed-Fi ids have: an item seen before keeps its
   * sourcedId whatever its key has become since (as the door keeps it).
   */
  async known(entity: KeptEntity, ids: readonly unknown[]): Promise<void> {
    const known = entity === 'enrollment' || !this.#known.has(entity) ? new Map<string, string>() : this.#known.get(entity)!;
    this.#known.set(entity, known);
    const wanted = [...new Set(ids.filter((id): id is string => typeof id === 'string' && !known.has(id)))];
    if (!wanted.length) return;
    const { rows } = await sql<{ sourced_id: string; native_key: string }>`select sourced_id, native_key from ${sql.table(TABLES[entity])}
      where source_id = ${this.#sourceId} and native_key = any(${wanted}::text[]) and native_key is not null`.execute(this.#em.getKysely());
    for (const r of rows) known.set(r.native_key, r.sourced_id);
  }

  /** Loads the sessions and sections of this source whose sourcedId is not the one their key gives (kept across a key change), so references by key find them. */
  async loadKept(entity: 'academicSession' | 'class'): Promise<void> {
    let after = '';
    for (;;) {
      const { rows } = await sql<{ sourced_id: string; native_key: string; edfi_key: Doc }>`select sourced_id, native_key, edfi_key from ${sql.table(TABLES[entity])}
        where source_id = ${this.#sourceId} and native_key is not null and edfi_key is not null and sourced_id > ${after}
        order by sourced_id limit 10000`.execute(this.#em.getKysely());
      for (const r of rows) {
        if (idOfKey(entity, r.edfi_key) === r.sourced_id) continue;
        if (entity === 'class') this.#sections.set(sectionKey(r.edfi_key as SectionKey), r.sourced_id);
        if (entity === 'academicSession' && r.edfi_key.sessionName !== undefined) this.#sessions.set(sessionKey(r.edfi_key.schoolId, r.edfi_key.schoolYear, r.edfi_key.sessionName), r.sourced_id);
      }
      if (rows.length < 10000) return;
      after = rows.at(-1)!.sourced_id;
    }
  }

  /** A key change (after `known`): the item keeps the sourcedId it has, or else the one its old key gave it. */
  keyChanged(entity: KeptEntity, change: Doc) {
    this.#changed.set(change.id, this.#keptId(entity, change.id) ?? idOfKey(entity, change.oldKeyValues));
  }

  #keptId(entity: KeptEntity, id: unknown) {
    return typeof id === 'string' ? (this.#changed.get(id) ?? this.#known.get(entity)?.get(id)) : undefined;
  }

  sessionId = (schoolId: unknown, schoolYear: unknown, sessionName: unknown) =>
    this.#sessions.get(sessionKey(schoolId, schoolYear, sessionName)) ?? edfiIds.session(schoolId, schoolYear, sessionName);
  sectionId = (k: SectionKey) => this.#sections.get(sectionKey(k)) ?? edfiIds.section(k);

  localEducationAgency = (doc: Doc) => clean({ sourcedId: edfiIds.org(doc.localEducationAgencyId), nativeKey: doc.id, ...edfiFields.localEducationAgency(doc) });
  school = (doc: Doc) => clean({
    sourcedId: edfiIds.org(doc.schoolId), nativeKey: doc.id,
    ...edfiFields.school(doc, doc.localEducationAgencyReference ? edfiIds.org(doc.localEducationAgencyReference.localEducationAgencyId) : undefined),
  });
  session(doc: Doc) {
    const schoolId = doc.schoolReference.schoolId;
    const schoolYear = doc.schoolYearTypeReference.schoolYear;
    const sourcedId = this.#keptId('academicSession', doc.id) ?? edfiIds.session(schoolId, schoolYear, doc.sessionName);
    if (sourcedId !== edfiIds.session(schoolId, schoolYear, doc.sessionName)) this.#sessions.set(sessionKey(schoolId, schoolYear, doc.sessionName), sourcedId);
    return clean({ sourcedId, nativeKey: doc.id, ...edfiFields.session(doc) });
  }
  gradingPeriod = (doc: Doc) => clean({
    sourcedId: edfiIds.gradingPeriod(doc.schoolReference.schoolId, doc.schoolYearTypeReference.schoolYear, doc.gradingPeriodDescriptor, doc.gradingPeriodName),
    nativeKey: doc.id, ...edfiFields.gradingPeriod(doc),
  });
  course = (doc: Doc) => {
    const edOrgId = doc.educationOrganizationReference.educationOrganizationId;
    return clean({ sourcedId: edfiIds.course(edOrgId, doc.courseCode), nativeKey: doc.id, ...edfiFields.course(doc, edfiIds.org(edOrgId)) });
  };
  /** A section, given its course offering's courseReference. */
  section(doc: Doc, courseReference: Doc) {
    const key = sectionKeyOf(doc);
    const sourcedId = this.#keptId('class', doc.id) ?? edfiIds.section(key);
    if (sourcedId !== edfiIds.section(key)) this.#sections.set(sectionKey(key), sourcedId);
    return clean({
      sourcedId, nativeKey: doc.id,
      ...edfiFields.section(doc, {
        courseSourcedId: edfiIds.course(courseReference.educationOrganizationId, courseReference.courseCode),
        schoolSourcedId: edfiIds.org(key.schoolId),
        termSourcedId: this.sessionId(key.schoolId, key.schoolYear, key.sessionName),
      }),
    });
  }
  enrollment(kind: 'student' | 'staff', doc: Doc) {
    const s = doc.sectionReference as SectionKey;
    const uid = doc[kind === 'student' ? 'studentReference' : 'staffReference'][personIds[kind]];
    return clean({
      sourcedId: this.#keptId('enrollment', doc.id) ?? edfiIds.sectionAssociation(uid, s, doc.beginDate), nativeKey: doc.id,
      ...edfiFields.sectionAssociation(kind, doc, { classSourcedId: this.sectionId(s), schoolSourcedId: edfiIds.org(s.schoolId), userSourcedId: edfiIds.person(kind, uid) }),
    });
  }
  /** The enrollment a /deletes entry names. */
  enrollmentId(entry: Doc) {
    const k = entry.keyValues as Doc;
    return this.#keptId('enrollment', entry.id) ?? edfiIds.sectionAssociation(k.studentUniqueId ?? k.staffUniqueId, k as SectionKey, k.beginDate);
  }
  /** The session or class a /deletes entry names. */
  keptOrRule(entity: 'academicSession' | 'class', entry: Doc) {
    return this.#keptId(entity, entry.id) ?? idOfKey(entity, entry.keyValues);
  }
}

/**
 * The people of a run: students, staff and contacts as users (with their demographics), built up
 * from the person items and then every association that gives them roles, agents or demographics,
 * as the door would have written them one by one. A full run starts from nothing; an incremental
 * one from the stored records of the people its changes touch.
 */
export class People {
  readonly users = new Map<string, Doc>();
  readonly demographics = new Map<string, Doc>();
  /** Students whose demographics come from their education organization associations (re-projected at the end). */
  readonly associations = new Map<string, Doc[]>();
  /** People whose records this run writes. */
  readonly touched = new Set<string>();
  /** People whose own item this run read. */
  readonly listed = new Set<string>();
  readonly #em: EntityManager | undefined;

  /** `em`: read stored records of people not seen in this run (incremental runs). */
  constructor(em?: EntityManager) {
    this.#em = em;
  }

  /** Makes the stored records of these people the base their changes apply to. */
  async load(ids: Iterable<string>): Promise<void> {
    if (!this.#em) return;
    const wanted = [...new Set(ids)].filter((id) => !this.users.has(id));
    if (!wanted.length) return;
    const [users, demographics] = await Promise.all([readRecords(this.#em, 'user', wanted), readRecords(this.#em, 'demographics', wanted)]);
    for (const [id, row] of users) if (row.status === 'active') this.users.set(id, row.record);
    for (const [id, row] of demographics) if (row.status === 'active') this.demographics.set(id, row.record);
  }

  #roles = (id: string) => (this.users.get(id)?.roles as RoleRecord[] | undefined) ?? [];
  #setRoles(id: string, roles: RoleRecord[]) {
    const user = this.users.get(id);
    if (!user) return false;
    user.roles = roles;
    this.touched.add(id);
    return true;
  }

  person(kind: PersonKind, doc: Doc) {
    const sourcedId = edfiIds.person(kind, doc[personIds[kind]]);
    this.users.set(sourcedId, { ...edfiFields.person(kind, doc, sourcedId, this.users.get(sourcedId)), nativeKey: doc.id });
    if (kind === 'student') this.demographics.set(sourcedId, edfiFields.studentDemographics(doc, sourcedId, this.demographics.get(sourcedId)));
    this.touched.add(sourcedId);
    this.listed.add(sourcedId);
  }

  /** False when the person is unknown (the association is reported, not applied). */
  schoolAssociation(doc: Doc): boolean {
    const id = edfiIds.person('student', doc.studentReference.studentUniqueId);
    const school = edfiIds.org(doc.schoolReference.schoolId);
    const roles = this.#roles(id);
    const old = studentRoleAt(roles, school, doc.entryDate);
    // An association whose key changed upstream keeps its id (the rule no longer gives it), as does one from an API with ids of its own.
    const own = typeof doc.id === 'string' ? normaliseId(doc.id) : undefined;
    const keptId = own && own !== edfiIds.role('SSA', id, school, doc.entryDate) ? own : undefined;
    const next = placeRole(roles, old, schoolAssociationRole(doc, school, old, roles, (old?.edfi?.id as string | undefined) ?? keptId));
    if (!this.#setRoles(id, next)) return false;
    const grade = gradeOf(next);
    if (grade) this.users.get(id)!.grades = [grade];
    return true;
  }

  dropSchoolAssociation(keys: Doc): void {
    const id = edfiIds.person('student', keys.studentUniqueId);
    const role = studentRoleAt(this.#roles(id), edfiIds.org(keys.schoolId), keys.entryDate);
    if (role) this.#setRoles(id, this.#roles(id).filter((r) => r !== role));
  }

  assignment(doc: Doc): boolean {
    const id = edfiIds.person('staff', doc.staffReference.staffUniqueId);
    const roles = this.#roles(id);
    const { old, role } = assignmentRole(doc, edfiIds.org(doc.educationOrganizationReference.educationOrganizationId), roles);
    return this.#setRoles(id, placeRole(roles, old, role));
  }

  dropAssignment(keys: Doc): void {
    const id = edfiIds.person('staff', keys.staffUniqueId);
    const role = assignmentRoleAt(this.#roles(id), edfiIds.org(keys.educationOrganizationId), keys.beginDate, staffRole(keys.staffClassificationDescriptor));
    if (role) this.#setRoles(id, this.#roles(id).filter((r) => r !== role));
  }

  /** A staff section association: the staff member teaches at the section's school. */
  teaching(doc: Doc): boolean {
    const id = edfiIds.person('staff', doc.staffReference.staffUniqueId);
    if (!this.users.has(id)) return false;
    const roles = teachingRole(this.#roles(id), edfiIds.org(doc.sectionReference.schoolId));
    if (roles) this.#setRoles(id, roles);
    return true;
  }

  contact(doc: Doc): boolean {
    const student = edfiIds.person('student', doc.studentReference.studentUniqueId);
    const contact = edfiIds.person('contact', doc.contactReference.contactUniqueId);
    const s = this.users.get(student);
    if (!s || !this.users.has(contact)) return false;
    const agents = (s.agentSourcedIds as string[] | undefined) ?? [];
    if (!agents.includes(contact)) {
      s.agentSourcedIds = [...agents, contact];
      this.touched.add(student);
    }
    const roles = contactRoles(this.#roles(contact), this.#roles(student), doc.relationDescriptor);
    if (roles) this.#setRoles(contact, roles);
    return true;
  }

  dropContact(keys: Doc): void {
    const student = edfiIds.person('student', keys.studentUniqueId);
    const s = this.users.get(student);
    if (!s) return;
    const agents = ((s.agentSourcedIds as string[] | undefined) ?? []).filter((a) => a !== edfiIds.person('contact', keys.contactUniqueId));
    s.agentSourcedIds = agents.length ? agents : undefined;
    this.touched.add(student);
  }

  /** Every education organization association of a student (oldest first) replaces what demographics had from them. */
  educationOrganizations(studentUniqueId: unknown, bodies: Doc[]) {
    const id = edfiIds.person('student', studentUniqueId);
    this.associations.set(id, bodies);
    this.touched.add(id);
  }

  /** The users and demographics to write: the touched people, with their association demographics projected. */
  records(): { users: Doc[]; demographics: Doc[]; roleless: Doc[] } {
    const users: Doc[] = [];
    const demographics: Doc[] = [];
    const roleless: Doc[] = [];
    for (const id of this.touched) {
      const user = this.users.get(id);
      if (!user) continue;
      if (!((user.roles as RoleRecord[] | undefined)?.length)) {
        roleless.push(user);
        continue;
      }
      users.push(clean(user));
      const bodies = this.associations.get(id);
      const demo = bodies ? associationDemographics(bodies, id, this.demographics.get(id)) : this.demographics.get(id);
      if (demo) demographics.push(clean(demo));
    }
    return { users, demographics, roleless };
  }
}
