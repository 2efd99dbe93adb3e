import { z } from 'zod';
import { splitFullName } from '../../src/text/names.ts';
import type { AcademicSessionRecord, ClassRecord, CourseRecord, EnrollmentRecord, OrgRecord, RoleRecord, UserRecord } from '../../src/sync/records.ts';

/**
 * Kolibri objects → canonical records (reference: connectors.md §3.4, §6.2; docs/mapping.md,
 * Kolibri). Ids are normalised to Kolibri's API form, 32 lowercase hex digits, whether they come
 * hyphenated (database exports, some proxies) or in capitals.
 */

/** A Kolibri UUID as 32 lowercase hex digits. */
export const kolibriId = z.string().transform((s) => s.replaceAll('-', '').toLowerCase()).pipe(z.string().regex(/^[0-9a-f]{32}$/, 'must be a Kolibri id (32 hex digits)'));

const role = z.looseObject({ collection: kolibriId, kind: z.string() });
export const kolibriFacility = z.looseObject({ id: kolibriId, name: z.string().min(1) });
export const kolibriUser = z.looseObject({
  id: kolibriId, username: z.string().min(1), full_name: z.string().nullish(), facility: kolibriId,
  id_number: z.string().nullish(), is_superuser: z.boolean().nullish(), roles: z.array(role).default([]),
});
export const kolibriClassroom = z.looseObject({ id: kolibriId, name: z.string().min(1), parent: kolibriId });
export const kolibriMembership = z.looseObject({ collection: kolibriId, user: kolibriId });
export const kolibriGroup = z.looseObject({ id: kolibriId, name: z.string(), parent: kolibriId, user_ids: z.array(kolibriId).default([]) });

export type KolibriFacility = z.infer<typeof kolibriFacility>;
export type KolibriUser = z.infer<typeof kolibriUser>;
export type KolibriClassroom = z.infer<typeof kolibriClassroom>;
export type KolibriGroup = z.infer<typeof kolibriGroup>;

export interface KolibriMapSettings {
  idPrefix: string;
  districtName: string;
  schoolYear: { startDate: string; endDate: string };
}

/** OneRoster 1.2 role per Kolibri role kind, highest first (the first a user has is primary). */
const ROLES: [string, RoleRecord['role']][] = [
  ['superuser', 'systemAdministrator'],
  ['admin', 'siteAdministrator'],
  ['coach', 'teacher'],
  ['classroom assignable coach', 'teacher'],
];

export class KolibriMapper {
  readonly #s: KolibriMapSettings;

  constructor(settings: KolibriMapSettings) {
    this.#s = settings;
  }

  id(kind: string, nativeId: string): string {
    return `${this.#s.idPrefix}:${kind}:${nativeId}`;
  }

  get districtId() {
    return this.id('instance', 'district');
  }

  get sessionId() {
    return this.id('schoolYear', this.#s.schoolYear.endDate.slice(0, 4));
  }

  /** The synthetic district standing for this Kolibri server, and its facilities as schools. */
  orgs(facilities: readonly KolibriFacility[]): OrgRecord[] {
    return [
      { sourcedId: this.districtId, name: this.#s.districtName, type: 'district' },
      ...facilities.map((f) => ({ sourcedId: this.id('facility', f.id), nativeKey: f.id, name: f.name, type: 'school', parentSourcedId: this.districtId })),
    ];
  }

  /** Kolibri has no terms: one school year from the source's dates. */
  session(): AcademicSessionRecord {
    const { startDate, endDate } = this.#s.schoolYear;
    return { sourcedId: this.sessionId, title: `${startDate.slice(0, 4)}-${endDate.slice(0, 4)}`, type: 'schoolYear', startDate, endDate, schoolYear: endDate.slice(0, 4) };
  }

  /** A classroom: a class, and the course synthesized for it. */
  classroom(c: KolibriClassroom): { course: CourseRecord; class: ClassRecord } {
    const school = this.id('facility', c.parent);
    const course = this.id('course', c.id);
    return {
      course: { sourcedId: course, nativeKey: c.id, title: c.name, orgSourcedId: school, schoolYearSourcedId: this.sessionId },
      class: { sourcedId: this.id('classroom', c.id), nativeKey: c.id, title: c.name, classType: 'scheduled', courseSourcedId: course, schoolSourcedId: school, termSourcedIds: [this.sessionId] },
    };
  }

  /**
   * A facility user. Roles: superuser → systemAdministrator, facility admin → siteAdministrator,
   * coach (on the facility or a classroom) or classroom assignable coach → teacher, none → student;
   * all at the user's facility. The single `full_name` is split at its last space; the original is
   * kept in metadata.
   */
  user(u: KolibriUser): UserRecord {
    const kinds = new Set(u.roles.map((r) => r.kind));
    if (u.is_superuser) kinds.add('superuser');
    const roles = [...new Set(ROLES.filter(([kind]) => kinds.has(kind)).map(([, r]) => r))];
    if (roles.length === 0) roles.push('student');
    // Kolibri lets a user have no name at all; the username stands in.
    const { givenName, familyName } = u.full_name?.trim() ? splitFullName(u.full_name) : { givenName: u.username, familyName: '' };
    const record: UserRecord = {
      sourcedId: this.id('user', u.id), nativeKey: u.id, enabledUser: true, username: u.username,
      userIds: [{ type: 'kolibri', identifier: u.id }], givenName, familyName,
      roles: roles.map((role, i) => ({ roleType: i === 0 ? 'primary' : 'secondary', role, orgSourcedId: this.id('facility', u.facility) })),
      metadata: { fullName: u.full_name ?? '' },
    };
    if (u.id_number) record.identifier = u.id_number;
    return record;
  }

  /** A learner in a classroom (a membership of the classroom), with the learner groups they are in. */
  learner(classroom: KolibriClassroom, user: string, groups: readonly string[]): EnrollmentRecord {
    const record: EnrollmentRecord = {
      sourcedId: this.id('enrollment', `${classroom.id}-${user}-student`),
      classSourcedId: this.id('classroom', classroom.id), schoolSourcedId: this.id('facility', classroom.parent),
      userSourcedId: this.id('user', user), role: 'student',
    };
    if (groups.length) record.metadata = { learnerGroups: [...groups].sort() };
    return record;
  }

  /** A coach of a classroom (a coach role on it) teaches it. */
  coach(classroom: KolibriClassroom, user: string): EnrollmentRecord {
    return {
      sourcedId: this.id('enrollment', `${classroom.id}-${user}-teacher`),
      classSourcedId: this.id('classroom', classroom.id), schoolSourcedId: this.id('facility', classroom.parent),
      userSourcedId: this.id('user', user), role: 'teacher', primary: true,
    };
  }
}
