import { z } from 'zod';
import { clean } from '../../src/sync/pull.ts';
import { dateIn } from '../../src/text/dates.ts';
import { splitFullName } from '../../src/text/names.ts';
import type {
  AcademicSessionRecord, CategoryRecord, ClassRecord, CourseRecord, EnrollmentRecord, LineItemRecord, OrgRecord, ResultRecord, RoleRecord,
  TombstoneRecord, UserRecord,
} from '../../src/sync/records.ts';

/**
 * Canvas objects → canonical records (reference: connectors.md §6.2; docs/mapping.md, Canvas).
 * Pure functions of what Canvas sent and the source's settings, so an unchanged Canvas maps to
 * byte-identical records and a re-sync writes nothing.
 */

const id = z.string().min(1);
const opt = z.string().nullish();

/** The fields read; anything else Canvas sends is ignored, missing optional ones are fine. */
export const canvasAccount = z.looseObject({ id, name: z.string(), parent_account_id: opt, root_account_id: opt, sis_account_id: opt, workflow_state: opt, default_time_zone: opt });
export const canvasTerm = z.looseObject({ id, name: z.string(), start_at: opt, end_at: opt, workflow_state: opt, sis_term_id: opt });
export const canvasCourse = z.looseObject({
  id, name: z.string(), course_code: opt, workflow_state: opt, account_id: id, enrollment_term_id: opt, sis_course_id: opt,
  term: z.looseObject({ id, name: z.string(), start_at: opt, end_at: opt }).nullish(),
});
export const canvasSection = z.looseObject({ id, name: z.string(), course_id: id, sis_section_id: opt, start_at: opt, end_at: opt });
export const canvasUser = z.looseObject({
  id, name: z.string(), sortable_name: opt, short_name: opt, first_name: opt, last_name: opt,
  sis_user_id: opt, integration_id: opt, login_id: opt, email: opt, pronouns: opt,
});
export const canvasEnrollment = z.looseObject({
  id, course_id: id, course_section_id: opt, user_id: id, type: z.string(), enrollment_state: z.string(),
  associated_user_id: opt, start_at: opt, end_at: opt,
});

const num = z.number().nullish();
const flag = z.boolean().nullish();
export const canvasAssignmentGroup = z.looseObject({ id, name: z.string(), group_weight: num });
export const canvasAssignment = z.looseObject({
  id, name: z.string(), description: opt, created_at: z.string(), unlock_at: opt, due_at: opt, lock_at: opt,
  points_possible: num, assignment_group_id: id, published: flag, workflow_state: opt,
});
export const canvasSubmission = z.looseObject({
  id, user_id: id, assignment_id: id, score: num, grade: opt, workflow_state: z.string(), submitted_at: opt, graded_at: opt,
  excused: flag, late: flag, missing: flag,
});

export type CanvasAccount = z.infer<typeof canvasAccount>;
export type CanvasAssignmentGroup = z.infer<typeof canvasAssignmentGroup>;
export type CanvasAssignment = z.infer<typeof canvasAssignment>;
export type CanvasSubmission = z.infer<typeof canvasSubmission>;
export type CanvasTerm = z.infer<typeof canvasTerm>;
export type CanvasCourse = z.infer<typeof canvasCourse>;
export type CanvasSection = z.infer<typeof canvasSection>;
export type CanvasUser = z.infer<typeof canvasUser>;
export type CanvasEnrollment = z.infer<typeof canvasEnrollment>;

export type OrgType = 'district' | 'school' | 'department' | 'local' | 'state' | 'national';

export interface MapSettings {
  /** Prefix of every sourcedId (`canvas:<host>` by default). */
  idPrefix: string;
  rootOrgType: OrgType;
  /** Depth of the sub-accounts that are schools (1: the root's children); shallower ones are districts, deeper ones departments. */
  schoolDepth: number;
  /** Org type per Canvas account id, over the depth rule. */
  orgTypes: Record<string, OrgType>;
  /** What a OneRoster class is: a Canvas course, or each of its sections. */
  classUnit: 'course' | 'section';
  /** Dates for terms Canvas leaves open (the Default Term). */
  termDefaults: { startDate: string; endDate: string };
  /** IANA zone Canvas timestamps are read in when cut to dates (the root account's). */
  timeZone: string;
}

const TOMBSTONED = new Set(['deleted']);

export class CanvasMapper {
  readonly #s: MapSettings;
  readonly #accounts = new Map<string, { parent: string | null; type: OrgType }>();
  readonly #schools = new Set<string>();
  #root = '';
  readonly #date: (timestamp: string | null | undefined) => string | undefined;

  constructor(settings: MapSettings) {
    this.#s = settings;
    this.#date = dateIn(settings.timeZone);
  }

  id(kind: string, nativeId: string): string {
    return `${this.#s.idPrefix}:${kind}:${nativeId}`;
  }

  /** A Canvas timestamp as the calendar date it falls on in the district's zone. */
  date(timestamp: string | null | undefined): string | undefined {
    return this.#date(timestamp);
  }

  /** Orgs of an account tree (every account listed, root first); remembers the tree for schools. */
  orgs(accounts: readonly CanvasAccount[], rootId: string): (OrgRecord | TombstoneRecord)[] {
    this.#root = rootId;
    const byId = new Map(accounts.map((a) => [a.id, a]));
    const depth = (a: CanvasAccount): number => {
      let d = 0;
      for (let at: CanvasAccount | undefined = a; at && at.id !== rootId && d < 100; at = byId.get(at.parent_account_id ?? '')) d++;
      return d;
    };
    return accounts.map((a) => {
      const d = depth(a);
      const type = this.#s.orgTypes[a.id] ?? (a.id === rootId ? this.#s.rootOrgType : d === this.#s.schoolDepth ? 'school' : d < this.#s.schoolDepth ? 'district' : 'department');
      const parent = a.id !== rootId && a.parent_account_id && byId.has(a.parent_account_id) ? a.parent_account_id : null;
      this.#accounts.set(a.id, { parent, type });
      if (type === 'school') this.#schools.add(this.id('account', a.id));
      if (TOMBSTONED.has(a.workflow_state ?? '')) return this.#tombstone('account', a.id);
      return clean({
        sourcedId: this.id('account', a.id), nativeKey: a.id, name: a.name, type,
        identifier: a.sis_account_id ?? undefined,
        parentSourcedId: parent ? this.id('account', parent) : undefined,
      });
    });
  }

  /**
   * The org a course's classes belong to: the nearest school at or above its account, else the
   * account; an account this run could not list (its sub-accounts were refused) falls back to the
   * synced account, so its courses still land somewhere that exists.
   */
  schoolOf(accountId: string): string {
    if (!this.#accounts.has(accountId)) return this.id('account', this.#root);
    for (let at: string | null = accountId, hops = 0; at && hops < 100; hops++) {
      const account = this.#accounts.get(at);
      if (!account) break;
      if (account.type === 'school') return this.id('account', at);
      at = account.parent;
    }
    return this.id('account', accountId);
  }

  session(term: Pick<CanvasTerm, 'id' | 'name' | 'start_at' | 'end_at' | 'workflow_state'>): AcademicSessionRecord | TombstoneRecord {
    if (TOMBSTONED.has(term.workflow_state ?? '')) return this.#tombstone('term', term.id);
    const defaults = this.#s.termDefaults;
    let startDate = this.date(term.start_at) ?? defaults.startDate;
    let endDate = this.date(term.end_at) ?? defaults.endDate;
    // One open end filled from the defaults can land on the wrong side of the other.
    if (startDate > endDate) [startDate, endDate] = term.start_at ? [startDate, startDate] : [endDate, endDate];
    return {
      sourcedId: this.id('term', term.id), nativeKey: term.id, title: term.name || `Term ${term.id}`, type: 'term',
      startDate, endDate, schoolYear: endDate.slice(0, 4),
    };
  }

  /** A Canvas course: a synthesized OneRoster course, and the class it is in course mode. */
  course(course: CanvasCourse): { course: CourseRecord | TombstoneRecord; class?: ClassRecord | TombstoneRecord } {
    const classInCourseMode = this.#s.classUnit === 'course';
    if (TOMBSTONED.has(course.workflow_state ?? '')) {
      const gone = this.#tombstone('course', course.id);
      return { course: gone, class: classInCourseMode ? gone : undefined };
    }
    const school = this.schoolOf(course.account_id);
    const record = clean({
      sourcedId: this.id('course', course.id), nativeKey: course.id, title: course.name,
      courseCode: course.course_code ?? undefined, orgSourcedId: school,
    });
    if (!classInCourseMode) return { course: record };
    return {
      course: record,
      class: clean({
        sourcedId: this.id('course', course.id), nativeKey: course.id, title: course.name,
        classCode: course.course_code ?? undefined, classType: 'scheduled' as const,
        courseSourcedId: record.sourcedId, schoolSourcedId: school, termSourcedIds: [this.#termOf(course)],
      }),
    };
  }

  /** A section as a class (section mode). */
  section(section: CanvasSection, course: CanvasCourse): ClassRecord {
    return clean({
      sourcedId: this.id('section', section.id), nativeKey: section.id, title: section.name,
      classCode: section.sis_section_id ?? course.course_code ?? undefined, classType: 'scheduled' as const,
      courseSourcedId: this.id('course', course.id), schoolSourcedId: this.schoolOf(course.account_id), termSourcedIds: [this.#termOf(course)],
    });
  }

  #termOf(course: CanvasCourse): string {
    return this.id('term', course.enrollment_term_id ?? course.term?.id ?? '');
  }

  /**
   * One course's enrollments (every state): OneRoster enrollments, one per class, user and role
   * (a student in two sections of a course is one enrollment in course mode), plus the user roles
   * and observer links they imply. All of a group's Canvas enrollments deleted or rejected: a tombstone.
   */
  enrollments(course: CanvasCourse, listed: readonly CanvasEnrollment[]): { records: (EnrollmentRecord | TombstoneRecord)[]; roles: ImpliedRole[]; observers: [string, string][] } {
    const school = this.schoolOf(course.account_id);
    const groups = new Map<string, { classId: string; user: string; role: 'student' | 'teacher'; primary: boolean; live: CanvasEnrollment[]; ids: string[] }>();
    const roles: ImpliedRole[] = [];
    const observers: [string, string][] = [];
    for (const e of [...listed].sort((a, b) => compareIds(a.id, b.id))) {
      const kind = ENROLLMENT_TYPES[e.type];
      const live = !GONE_STATES.has(e.enrollment_state);
      if (kind === 'observer') {
        if (live) roles.push({ user: e.user_id, role: 'guardian', org: school });
        if (live && e.associated_user_id) observers.push([e.associated_user_id, e.user_id]);
        continue;
      }
      if (!kind) continue;
      const classId = this.#s.classUnit === 'course' ? course.id : `s${e.course_section_id ?? ''}`;
      if (this.#s.classUnit === 'section' && !e.course_section_id) continue;
      const role = kind === 'student' ? 'student' : 'teacher';
      const key = `${classId}|${e.user_id}|${role}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { classId, user: e.user_id, role, primary: false, live: [], ids: [] }));
      group.ids.push(e.id);
      if (live) {
        group.live.push(e);
        group.primary ||= kind === 'teacher';
        roles.push({ user: e.user_id, role: kind === 'ta' ? 'aide' : kind, org: school });
      }
    }
    const records = [...groups.values()].map((g): EnrollmentRecord | TombstoneRecord => {
      const sourcedId = this.id('enrollment', `${g.classId}-${g.user}-${g.role}`);
      if (g.live.length === 0) return { sourcedId, status: 'tobedeleted' };
      const starts = g.live.map((e) => this.date(e.start_at));
      const ends = g.live.map((e) => this.date(e.end_at));
      // Canvas says more than OneRoster about an enrollment that still counts: keep its state.
      const state = g.live.some((e) => e.enrollment_state === 'active' || e.enrollment_state === 'invited') ? undefined : g.live[0]!.enrollment_state;
      return clean({
        sourcedId, nativeKey: g.ids.join(','),
        classSourcedId: this.#s.classUnit === 'course' ? this.id('course', course.id) : this.id('section', g.classId.slice(1)),
        schoolSourcedId: school, userSourcedId: this.id('user', g.user), role: g.role,
        primary: g.role === 'teacher' ? g.primary : undefined,
        beginDate: starts.includes(undefined) ? undefined : starts.sort()[0],
        endDate: ends.includes(undefined) ? undefined : ends.sort().at(-1),
        metadata: state ? { lmsState: state } : undefined,
      });
    });
    return { records, roles, observers };
  }

  /** A user with the roles their enrollments imply; undefined when they imply none (not rostered). */
  user(user: CanvasUser, roles: Iterable<string>, agents: readonly string[]): UserRecord | undefined {
    // The primary role: the highest one, at a school rather than a district where there is a choice.
    const atSchool = (org: string) => (this.#schools.has(org) ? 0 : 1);
    const sorted = [...new Set(roles)].map(parseRole)
      .sort((a, b) => ROLE_RANK[a.role]! - ROLE_RANK[b.role]! || atSchool(a.org) - atSchool(b.org) || (a.org < b.org ? -1 : a.org > b.org ? 1 : 0));
    if (sorted.length === 0) return undefined;
    const { givenName, familyName } = namesOf(user);
    const userIds = [
      { type: 'canvas', identifier: user.id },
      user.sis_user_id ? { type: 'sis', identifier: user.sis_user_id } : undefined,
      user.integration_id ? { type: 'integration', identifier: user.integration_id } : undefined,
      user.login_id ? { type: 'login', identifier: user.login_id } : undefined,
    ].filter((x) => x !== undefined);
    return clean({
      sourcedId: this.id('user', user.id), nativeKey: user.id, enabledUser: true,
      username: user.login_id ?? undefined, userIds, givenName, familyName,
      identifier: user.sis_user_id ?? undefined, email: user.email ?? undefined, pronouns: user.pronouns ?? undefined,
      agentSourcedIds: agents.length ? [...agents].sort(compareIds).map((a) => this.id('user', a)) : undefined,
      roles: sorted.map((r, i): RoleRecord => ({ roleType: i === 0 ? 'primary' : 'secondary', role: r.role, orgSourcedId: r.org })),
    });
  }

  /** An assignment group as a category; Canvas weights are percentages, OneRoster's a share of 1. */
  category(group: CanvasAssignmentGroup): CategoryRecord {
    return clean({
      sourcedId: this.id('assignmentGroup', group.id), nativeKey: group.id, title: group.name || `Group ${group.id}`,
      weight: group.group_weight == null ? undefined : group.group_weight / 100,
    });
  }

  /**
   * A published assignment as a lineItem of its course's class (course mode); unpublished or deleted
   * ones are tombstones (students do not see them). Without dates, it is assigned when created and
   * due when it locks, or at once.
   */
  lineItem(a: CanvasAssignment, course: CanvasCourse): LineItemRecord | TombstoneRecord {
    if (a.published === false || a.workflow_state === 'deleted' || a.workflow_state === 'unpublished') return this.#tombstone('assignment', a.id);
    const assignDate = new Date(a.unlock_at ?? a.created_at).toISOString();
    return clean({
      sourcedId: this.id('assignment', a.id), nativeKey: a.id, title: a.name || `Assignment ${a.id}`,
      description: a.description ? plainText(a.description) || undefined : undefined,
      assignDate, dueDate: new Date(a.due_at ?? a.lock_at ?? assignDate).toISOString(),
      classSourcedId: this.id('course', course.id), schoolSourcedId: this.schoolOf(course.account_id),
      categorySourcedId: this.id('assignmentGroup', a.assignment_group_id), academicSessionSourcedId: this.#termOf(course),
      resultValueMin: a.points_possible == null ? undefined : 0, resultValueMax: a.points_possible ?? undefined,
    });
  }

  /**
   * A submission as a result; Canvas keeps a placeholder for every student and assignment, and
   * only those with something in them (handed in, graded, excused or missing) become results. The
   * score date is when it was graded or handed in, else the assignment's due date: never "today",
   * so an unchanged Canvas maps to the same record.
   */
  result(s: CanvasSubmission, course: CanvasCourse, due: string | undefined): ResultRecord | undefined {
    if (s.workflow_state === 'unsubmitted' && !s.excused && !s.missing && s.score == null) return undefined;
    const scoreStatus = s.excused ? 'exempt' : SCORE_STATUS[s.workflow_state] ?? (s.score == null ? 'not submitted' : 'fully graded');
    const scoreDate = this.date(s.graded_at ?? s.submitted_at ?? due);
    if (!scoreDate) return undefined;
    return clean({
      sourcedId: this.id('submission', s.id), nativeKey: s.id,
      lineItemSourcedId: this.id('assignment', s.assignment_id), studentSourcedId: this.id('user', s.user_id),
      classSourcedId: this.id('course', course.id), scoreStatus, score: s.score ?? undefined, textScore: s.grade ?? undefined, scoreDate,
      late: s.late ?? undefined, missing: s.missing ?? undefined,
    });
  }

  #tombstone(kind: string, nativeId: string): TombstoneRecord {
    return { sourcedId: this.id(kind, nativeId), status: 'tobedeleted' };
  }
}

/** A user role an enrollment implies, at the org of the enrollment's class. */
export interface ImpliedRole { user: string; role: 'student' | 'teacher' | 'aide' | 'guardian'; org: string }
export const roleKey = (r: { role: string; org: string }) => `${r.role}|${r.org}`;
const parseRole = (key: string) => {
  const bar = key.indexOf('|');
  return { role: key.slice(0, bar) as ImpliedRole['role'], org: key.slice(bar + 1) };
};
const ROLE_RANK: Record<string, number> = { teacher: 0, aide: 1, student: 2, guardian: 3 };

/** Canvas enrollment types (custom roles keep their base type); designers are not rostered. */
const ENROLLMENT_TYPES: Record<string, 'student' | 'teacher' | 'ta' | 'observer' | undefined> = {
  StudentEnrollment: 'student', StudentViewEnrollment: undefined, TeacherEnrollment: 'teacher', TaEnrollment: 'ta',
  ObserverEnrollment: 'observer', DesignerEnrollment: undefined,
};
/** Enrollment states that take a person off the roster; completed and inactive ones stay (with lmsState). */
const GONE_STATES = new Set(['deleted', 'rejected']);

const SCORE_STATUS: Record<string, ResultRecord['scoreStatus']> = {
  graded: 'fully graded', submitted: 'submitted', pending_review: 'partially graded', unsubmitted: 'not submitted',
};

/** Canvas descriptions are HTML; a lineItem's is plain text. */
const entities: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", ndash: '–', mdash: '—', hellip: '…' };
const plainText = (html: string) => html.replace(/<[^>]*>/g, ' ')
  .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => (e[0] === '#' ? String.fromCodePoint(Number(e[1] === 'x' || e[1] === 'X' ? `0${e.slice(1)}` : e.slice(1))) : entities[e.toLowerCase()] ?? m))
  .replace(/\s+/g, ' ').replace(/ ([,.;:!?])/g, '$1').trim();

/** Given and family name: Canvas's own fields, else `sortable_name` ("Last, First"), else `name` split. */
export function namesOf(user: Pick<CanvasUser, 'name' | 'sortable_name' | 'first_name' | 'last_name'>): { givenName: string; familyName: string } {
  if (user.first_name || user.last_name) return { givenName: user.first_name ?? '', familyName: user.last_name ?? '' };
  const comma = user.sortable_name?.indexOf(',') ?? -1;
  if (user.sortable_name && comma > 0) return { givenName: user.sortable_name.slice(comma + 1).trim(), familyName: user.sortable_name.slice(0, comma).trim() };
  return splitFullName(user.name);
}

/** Numeric ids in numeric order, whatever their length. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
