import { clean } from '../../src/sync/pull.ts';
import type {
  AcademicSessionRecord, ClassRecord, CourseRecord, DemographicsRecord, EnrollmentRecord, EntityName, OrgRecord, RoleRecord, TombstoneRecord, UserRecord,
} from '../../src/sync/records.ts';

/**
 * OneRoster REST objects (1.2, and 1.1) → canonical records. Ids are the provider's sourcedIds as
 * they are (optionally prefixed), so a district's SIS ids stay its ids. Providers bend the binding
 * in known ways; each bend is tolerated and told once per run through `quirk` (reference: §5.7):
 * JSON booleans instead of "true"/"false", comma-separated strings instead of arrays, numbers instead
 * of strings. Anything the record still lacks is for the engine's own checks to report.
 */

type Json = Record<string, unknown>;
export type Quirk = (entity: EntityName, code: string, message: string) => void;

/** OneRoster 1.1 roles → 1.2 (an administrator's 1.2 role depends on the kind of org). */
const ROLES_11: Record<string, string> = { aide: 'aide', guardian: 'guardian', parent: 'parent', proctor: 'proctor', relative: 'relative', student: 'student', teacher: 'teacher' };

export class OneRosterMapper {
  readonly #prefix: string;
  readonly #quirk: Quirk;
  /** District org ids seen (1.1 administrators there become districtAdministrator). */
  readonly districts = new Set<string>();

  constructor(prefix: string | undefined, quirk: Quirk) {
    this.#prefix = prefix ? `${prefix}:` : '';
    this.#quirk = quirk;
  }

  id(sourcedId: string): string {
    return this.#prefix + sourcedId;
  }

  /** The tombstone of a row the provider marks `tobedeleted`, else undefined. */
  tombstone(o: Json): TombstoneRecord | undefined {
    return o.status === 'tobedeleted' ? { sourcedId: this.id(String(o.sourcedId)), status: 'tobedeleted' } : undefined;
  }

  org(o: Json): OrgRecord | TombstoneRecord {
    if (o.type === 'district') this.districts.add(this.id(String(o.sourcedId)));
    return this.tombstone(o) ?? clean({
      ...this.#common(o), name: this.#text(o.name), type: this.#text(o.type),
      identifier: this.#text(o.identifier, 'org') || undefined, parentSourcedId: this.#ref(o.parent),
    }) as OrgRecord;
  }

  academicSession(o: Json): AcademicSessionRecord | TombstoneRecord {
    return this.tombstone(o) ?? clean({
      ...this.#common(o), title: this.#text(o.title), type: this.#text(o.type),
      startDate: this.#text(o.startDate), endDate: this.#text(o.endDate), parentSourcedId: this.#ref(o.parent),
      schoolYear: this.#text(o.schoolYear, 'academicSession'),
    }) as AcademicSessionRecord;
  }

  course(o: Json): CourseRecord | TombstoneRecord {
    return this.tombstone(o) ?? clean({
      ...this.#common(o), title: this.#text(o.title), courseCode: this.#text(o.courseCode, 'course') || undefined,
      schoolYearSourcedId: this.#ref(o.schoolYear), grades: this.#list(o.grades, 'course', 'grades'), subjects: this.#list(o.subjects, 'course', 'subjects'),
      subjectCodes: this.#list(o.subjectCodes, 'course', 'subjectCodes'), orgSourcedId: this.#ref(o.org),
    }) as CourseRecord;
  }

  class(o: Json): ClassRecord | TombstoneRecord {
    return this.tombstone(o) ?? clean({
      ...this.#common(o), title: this.#text(o.title), classCode: this.#text(o.classCode, 'class') || undefined,
      classType: this.#text(o.classType, 'class') || undefined, location: this.#text(o.location, 'class') || undefined,
      courseSourcedId: this.#ref(o.course), schoolSourcedId: this.#ref(o.school), termSourcedIds: this.#refs(o.terms),
      grades: this.#list(o.grades, 'class', 'grades'), subjects: this.#list(o.subjects, 'class', 'subjects'),
      subjectCodes: this.#list(o.subjectCodes, 'class', 'subjectCodes'), periods: this.#list(o.periods, 'class', 'periods'),
    }) as ClassRecord;
  }

  /** A 1.2 user, or a 1.1 one (`role` and `orgs` instead of `roles`). */
  user(o: Json): UserRecord | TombstoneRecord {
    const gone = this.tombstone(o);
    if (gone) return gone;
    const roles: RoleRecord[] = Array.isArray(o.roles)
      ? (o.roles as Json[]).map((r) => clean({
        roleType: this.#text(r.roleType) as RoleRecord['roleType'], role: this.#text(r.role), orgSourcedId: this.#ref(r.org)!,
        userProfile: this.#text(r.userProfile, 'user') || undefined, beginDate: this.#text(r.beginDate, 'user') || undefined, endDate: this.#text(r.endDate, 'user') || undefined,
      }))
      : this.#roles11(o);
    const profiles = Array.isArray(o.userProfiles) && o.userProfiles.length
      ? (o.userProfiles as Json[]).map((p) => clean({
        profileId: this.#text(p.profileId), profileType: this.#text(p.profileType), vendorId: this.#text(p.vendorId),
        applicationId: this.#text(p.applicationId, 'user') || undefined, description: this.#text(p.description, 'user') || undefined,
        // Passwords never leave the provider into this gateway.
        credentials: Array.isArray(p.credentials) ? (p.credentials as Json[]).map((c) => ({ type: this.#text(c.type), username: this.#text(c.username) })) : undefined,
      }))
      : undefined;
    return clean({
      ...this.#common(o), enabledUser: this.#flag(o.enabledUser, 'user', 'enabledUser') ?? true,
      username: this.#text(o.username, 'user') || undefined,
      userIds: Array.isArray(o.userIds) && o.userIds.length ? (o.userIds as Json[]).map((u) => ({ type: this.#text(u.type), identifier: this.#text(u.identifier) })) : undefined,
      givenName: this.#text(o.givenName), familyName: this.#text(o.familyName), middleName: this.#text(o.middleName, 'user') || undefined,
      preferredFirstName: this.#text(o.preferredFirstName, 'user') || undefined, preferredMiddleName: this.#text(o.preferredMiddleName, 'user') || undefined,
      preferredLastName: this.#text(o.preferredLastName, 'user') || undefined, pronouns: this.#text(o.pronouns, 'user') || undefined,
      identifier: this.#text(o.identifier, 'user') || undefined, email: this.#text(o.email, 'user') || undefined,
      sms: this.#text(o.sms, 'user') || undefined, phone: this.#text(o.phone, 'user') || undefined,
      agentSourcedIds: this.#refs(o.agents), grades: this.#list(o.grades, 'user', 'grades'),
      userMasterIdentifier: this.#text(o.userMasterIdentifier, 'user') || undefined, primaryOrgSourcedId: this.#ref(o.primaryOrg),
      roles, userProfiles: profiles,
    }) as UserRecord;
  }

  enrollment(o: Json): EnrollmentRecord | TombstoneRecord {
    return this.tombstone(o) ?? clean({
      ...this.#common(o), classSourcedId: this.#ref(o.class), schoolSourcedId: this.#ref(o.school), userSourcedId: this.#ref(o.user),
      role: this.#text(o.role), primary: this.#flag(o.primary, 'enrollment', 'primary'),
      beginDate: this.#text(o.beginDate, 'enrollment') || undefined, endDate: this.#text(o.endDate, 'enrollment') || undefined,
    }) as EnrollmentRecord;
  }

  demographics(o: Json): DemographicsRecord | TombstoneRecord {
    const flags = ['americanIndianOrAlaskaNative', 'asian', 'blackOrAfricanAmerican', 'nativeHawaiianOrOtherPacificIslander', 'white', 'demographicRaceTwoOrMoreRaces', 'hispanicOrLatinoEthnicity'];
    return this.tombstone(o) ?? clean({
      ...this.#common(o), birthDate: this.#text(o.birthDate, 'demographics') || undefined, sex: this.#text(o.sex, 'demographics') || undefined,
      ...Object.fromEntries(flags.map((f) => [f, this.#flag(o[f], 'demographics', f)])),
      countryOfBirthCode: this.#text(o.countryOfBirthCode, 'demographics') || undefined, stateOfBirthAbbreviation: this.#text(o.stateOfBirthAbbreviation, 'demographics') || undefined,
      cityOfBirth: this.#text(o.cityOfBirth, 'demographics') || undefined, publicSchoolResidenceStatus: this.#text(o.publicSchoolResidenceStatus, 'demographics') || undefined,
    }) as DemographicsRecord;
  }

  #common(o: Json) {
    const metadata = o.metadata && typeof o.metadata === 'object' && !Array.isArray(o.metadata) && Object.keys(o.metadata).length ? (o.metadata as Json) : undefined;
    return { sourcedId: this.id(String(o.sourcedId ?? '')), metadata };
  }

  /** 1.1: one role at every org of `orgs` (the first primary); an administrator by kind of org. */
  #roles11(o: Json): RoleRecord[] {
    const orgs = this.#refs(o.orgs) ?? [];
    const role = this.#text(o.role);
    return orgs.map((org, i) => ({
      roleType: i === 0 ? 'primary' : 'secondary',
      role: role === 'administrator' ? (this.districts.has(org) ? 'districtAdministrator' : 'siteAdministrator') : (ROLES_11[role] ?? role),
      orgSourcedId: org,
    }));
  }

  #ref(value: unknown): string | undefined {
    const id = (value as { sourcedId?: unknown } | null | undefined)?.sourcedId;
    return typeof id === 'string' && id !== '' ? this.id(id) : undefined;
  }

  #refs(value: unknown): string[] | undefined {
    if (!Array.isArray(value) || value.length === 0) return undefined;
    return value.map((v) => this.#ref(v)).filter((id): id is string => id !== undefined);
  }

  /** A string; a number is one written without quotes (a quirk), told once. */
  #text(value: unknown, entity?: EntityName): string {
    if (typeof value === 'string') return value;
    if (value === undefined || value === null) return '';
    if (entity && (typeof value === 'number' || typeof value === 'boolean')) this.#quirk(entity, 'unquoted_value', 'sends numbers or booleans where the binding has strings');
    return String(value);
  }

  /** `"true"`/`"false"` (the binding), or JSON booleans (a common quirk). */
  #flag(value: unknown, entity: EntityName, field: string): boolean | undefined {
    if (value === 'true' || value === 'false') return value === 'true';
    if (typeof value === 'boolean') {
      this.#quirk(entity, 'json_boolean', `sends ${field} (and such flags) as a JSON boolean, not the string "true"/"false"`);
      return value;
    }
    return undefined;
  }

  /** An array of strings; a comma-separated string is a quirk (`"periods": "1,2"`). */
  #list(value: unknown, entity: EntityName, field: string): string[] | undefined {
    if (Array.isArray(value)) return value.length ? value.map((v) => String(v)) : undefined;
    if (typeof value === 'string' && value !== '') {
      this.#quirk(entity, 'string_list', `sends ${field} (and such lists) as a comma-separated string, not an array`);
      return value.split(',').map((v) => v.trim()).filter(Boolean);
    }
    return undefined;
  }
}
