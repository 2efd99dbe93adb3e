import { z } from 'zod';
import { clean } from '../../src/sync/pull.ts';
import { dateIn } from '../../src/text/dates.ts';
import type { AcademicSessionRecord, ClassRecord, CourseRecord, EnrollmentRecord, OrgRecord, RoleRecord, UserRecord } from '../../src/sync/records.ts';

/**
 * Brightspace objects → canonical records (reference: connectors.md §4.5, §4.7, §6.2;
 * docs/mapping.md, Brightspace). D2L ids arrive as numbers in some objects and strings in others:
 * all become strings. The org structure follows D2L's own OneRoster mapping (IPSIS): semesters are
 * sessions, course templates courses, course offerings classes (or their sections).
 */

const d2lId = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String);
const text = z.string().nullish();
const ref = z.looseObject({ Identifier: d2lId, Name: z.string().nullish(), Code: text }).nullish();

export const organization = z.looseObject({ Identifier: d2lId, Name: z.string().min(1), TimeZone: text });
export const ouType = z.looseObject({ Id: d2lId, Code: z.string() });
export const orgUnit = z.looseObject({ Identifier: d2lId, Name: z.string().min(1), Code: text, Type: z.looseObject({ Id: d2lId, Code: text }) });
export const courseOffering = z.looseObject({
  Identifier: d2lId, Name: z.string().min(1), Code: text, IsActive: z.boolean().nullish(), StartDate: text, EndDate: text,
  CourseTemplate: ref, Semester: ref, Department: ref,
});
export const orgUnitUser = z.looseObject({ User: z.looseObject({ Identifier: d2lId }), Role: z.looseObject({ Id: d2lId, Name: z.string() }) });
export const section = z.looseObject({ SectionId: d2lId, Name: z.string().min(1), Code: text, Enrollments: z.array(d2lId).default([]) });
export const userData = z.looseObject({
  UserId: d2lId, UserName: z.string().min(1), FirstName: text, MiddleName: text, LastName: text, ExternalEmail: text,
  OrgDefinedId: text, UniqueIdentifier: text, Activation: z.looseObject({ IsActive: z.boolean() }).nullish(), Pronouns: text,
});

export type Organization = z.infer<typeof organization>;
export type OrgUnit = z.infer<typeof orgUnit>;
export type CourseOffering = z.infer<typeof courseOffering>;
export type OrgUnitUser = z.infer<typeof orgUnitUser>;
export type Section = z.infer<typeof section>;
export type UserData = z.infer<typeof userData>;

export type RosterRole = 'student' | 'teacher' | 'aide';

export interface BrightspaceMapSettings {
  idPrefix: string;
  /** The dates of a semester no offering gives dates to, and of the session offerings without a semester belong to. */
  schoolYear: { startDate: string; endDate: string };
  timeZone: string;
}

export class BrightspaceMapper {
  readonly #s: BrightspaceMapSettings;
  readonly #date: (timestamp: string | null | undefined) => string | undefined;
  /** Org units that are orgs here (the organization, configured department types). */
  readonly #orgs = new Set<string>();
  #root = '';

  constructor(settings: BrightspaceMapSettings) {
    this.#s = settings;
    this.#date = dateIn(settings.timeZone);
  }

  id(kind: string, nativeId: string) {
    return `${this.#s.idPrefix}:${kind}:${nativeId}`;
  }

  date(timestamp: string | null | undefined): string | undefined {
    return this.#date(timestamp);
  }

  get defaultSessionId() {
    return this.id('schoolYear', this.#s.schoolYear.endDate.slice(0, 4));
  }

  /** The organization as the district, and org units of configured types below it. */
  orgs(org: Organization, units: readonly { unit: OrgUnit; type: OrgRecord['type'] }[]): OrgRecord[] {
    this.#root = org.Identifier;
    this.#orgs.add(org.Identifier);
    for (const { unit } of units) this.#orgs.add(unit.Identifier);
    return [
      { sourcedId: this.id('ou', org.Identifier), nativeKey: org.Identifier, name: org.Name, type: 'district' },
      ...units.map(({ unit, type }) => clean({
        sourcedId: this.id('ou', unit.Identifier), nativeKey: unit.Identifier, name: unit.Name, type,
        identifier: unit.Code ?? undefined, parentSourcedId: this.id('ou', org.Identifier),
      })),
    ];
  }

  /** The org an offering belongs to: its department when that is an org here, else the organization. */
  schoolOf(offering: CourseOffering): string {
    const department = offering.Department?.Identifier;
    return this.id('ou', department && this.#orgs.has(department) ? department : this.#root);
  }

  /**
   * Semesters as sessions. Valence gives a semester no dates, so a semester spans its offerings'
   * (earliest start, latest end), else the configured school year. Offerings without a semester
   * belong to one schoolYear session of those dates.
   */
  sessions(semesters: readonly OrgUnit[], offerings: readonly CourseOffering[]): AcademicSessionRecord[] {
    const spans = new Map<string, { start?: string; end?: string }>();
    for (const o of offerings) {
      const semester = o.Semester?.Identifier;
      if (!semester) continue;
      const span = spans.get(semester) ?? {};
      const start = this.date(o.StartDate);
      const end = this.date(o.EndDate);
      if (start && (!span.start || start < span.start)) span.start = start;
      if (end && (!span.end || end > span.end)) span.end = end;
      spans.set(semester, span);
    }
    const { startDate, endDate } = this.#s.schoolYear;
    const records: AcademicSessionRecord[] = semesters.map((s) => {
      const span = spans.get(s.Identifier) ?? {};
      let start = span.start ?? startDate;
      let end = span.end ?? endDate;
      if (start > end) [start, end] = [end, start];
      return { sourcedId: this.id('ou', s.Identifier), nativeKey: s.Identifier, title: s.Name, type: 'semester', startDate: start, endDate: end, schoolYear: end.slice(0, 4) };
    });
    if (offerings.some((o) => !o.Semester?.Identifier)) {
      records.push({ sourcedId: this.defaultSessionId, title: `${startDate.slice(0, 4)}-${endDate.slice(0, 4)}`, type: 'schoolYear', startDate, endDate, schoolYear: endDate.slice(0, 4) });
    }
    return records;
  }

  template(unit: OrgUnit): CourseRecord {
    return clean({ sourcedId: this.id('ou', unit.Identifier), nativeKey: unit.Identifier, title: unit.Name, courseCode: unit.Code ?? undefined, orgSourcedId: this.id('ou', this.#root) });
  }

  /** A course offering as a class (unless its sections are the classes). */
  offering(o: CourseOffering): ClassRecord {
    return clean({
      sourcedId: this.id('ou', o.Identifier), nativeKey: o.Identifier, title: o.Name, classCode: o.Code ?? undefined, classType: 'scheduled',
      courseSourcedId: this.id('ou', o.CourseTemplate?.Identifier ?? ''), schoolSourcedId: this.schoolOf(o),
      termSourcedIds: [o.Semester?.Identifier ? this.id('ou', o.Semester.Identifier) : this.defaultSessionId],
      metadata: o.IsActive === false ? { lmsActive: false } : undefined,
    });
  }

  section(s: Section, o: CourseOffering): ClassRecord {
    return { ...this.offering(o), sourcedId: this.id('section', s.SectionId), nativeKey: s.SectionId, title: s.Name, classCode: s.Code ?? o.Code ?? undefined };
  }

  /** One enrollment of a user in a class (the offering, or a section of it) with the role the role map gave. */
  enrollment(classId: string, o: CourseOffering, user: string, role: RosterRole, inSection: boolean): EnrollmentRecord {
    return clean({
      sourcedId: this.id('enrollment', `${inSection ? 's' : ''}${classId}-${user}`), classSourcedId: this.id(inSection ? 'section' : 'ou', classId),
      schoolSourcedId: this.schoolOf(o), userSourcedId: this.id('user', user), role: role === 'student' ? 'student' : 'teacher',
      primary: role === 'student' ? undefined : role === 'teacher',
    });
  }

  /** A user, with the roles their enrollments imply (`role|org`); undefined when none (not rostered). */
  user(u: UserData, roles: Iterable<string>): UserRecord | undefined {
    const sorted = [...new Set(roles)].map((key) => ({ role: key.slice(0, key.indexOf('|')) as RosterRole, org: key.slice(key.indexOf('|') + 1) }))
      .sort((a, b) => RANK[a.role] - RANK[b.role] || (a.org === this.id('ou', this.#root) ? 1 : 0) - (b.org === this.id('ou', this.#root) ? 1 : 0) || (a.org < b.org ? -1 : a.org > b.org ? 1 : 0));
    if (sorted.length === 0) return undefined;
    const userIds = [
      { type: 'brightspace', identifier: u.UserId },
      u.OrgDefinedId ? { type: 'orgDefinedId', identifier: u.OrgDefinedId } : undefined,
      u.UniqueIdentifier ? { type: 'uniqueIdentifier', identifier: u.UniqueIdentifier } : undefined,
    ].filter((x) => x !== undefined);
    return clean({
      sourcedId: this.id('user', u.UserId), nativeKey: u.UserId, enabledUser: u.Activation?.IsActive ?? true,
      username: u.UserName, userIds, givenName: u.FirstName ?? '', middleName: u.MiddleName ?? undefined, familyName: u.LastName ?? '',
      identifier: u.OrgDefinedId ?? undefined, email: u.ExternalEmail ?? undefined, pronouns: u.Pronouns ?? undefined,
      roles: sorted.map((r, i): RoleRecord => ({ roleType: i === 0 ? 'primary' : 'secondary', role: r.role, orgSourcedId: r.org })),
    });
  }
}

const RANK: Record<RosterRole, number> = { teacher: 0, aide: 1, student: 2 };
