import { sql } from 'kysely';
import { z } from 'zod';
import type { Connector, SyncContext } from '../../src/sync/connector.ts';
import type { EntityName, RecordBatch, RecordsByEntity, TombstoneRecord } from '../../src/sync/records.ts';
import type { HttpClientOptions } from '../../src/sync/http.ts';
import { addTo, PullLog } from '../../src/sync/pull.ts';
import { daySetting, idPrefixSetting, orgTypeSetting, secureUrl } from '../../src/sync/settings.ts';
import { lastSucceededRun } from '../../src/sync/runs.ts';
import { dateIn, schoolYearAround, zoneOr } from '../../src/text/dates.ts';
import { CanvasClient, CanvasPermissionError } from './client.ts';
import {
  canvasAccount, canvasAssignment, canvasAssignmentGroup, canvasCourse, canvasEnrollment, canvasSection, canvasSubmission, canvasTerm, canvasUser,
  CanvasMapper, compareIds, roleKey, type CanvasAccount, type CanvasCourse, type CanvasTerm, type CanvasUser, type OrgType,
} from './map.ts';

/**
 * The Canvas LMS connector (reference: connectors.md §2, §6). A full run lists the account tree,
 * every term, every course (all states), each course's enrollments in every state and every user,
 * and may tombstone what Canvas no longer has. Between full runs, scheduled runs are incremental:
 * only courses of terms running today, which cannot tombstone courses, classes, users or
 * enrollments (Canvas's own deletions still arrive as tombstones). A scope this token may not read
 * is skipped with an issue, and every entity that depends on it is then not complete. With
 * `gradebook` on, each course's assignment groups, assignments and submissions come too, as
 * categories, lineItems and results (course mode only: a Canvas assignment belongs to a course).
 */

const settings = z
  .object({
    baseUrl: secureUrl('Canvas address, e.g. https://district.instructure.com'),
    accountId: z.string().regex(/^\d+$|^sis_account_id:.+$/, 'a Canvas account id, or sis_account_id:…').default('1').describe('Account whose tree is synced (the root account for a whole district)'),
    accessToken: z.string().min(1).optional().describe('An admin access token; or use clientId, clientSecret and refreshToken'),
    clientId: z.string().min(1).optional().describe('Developer key id, for OAuth2 refresh'),
    clientSecret: z.string().min(1).optional(),
    refreshToken: z.string().min(1).optional(),
    classUnit: z.enum(['course', 'section']).default('course').describe('A OneRoster class is a Canvas course, or each of its sections'),
    rootOrgType: orgTypeSetting.default('district'),
    schoolDepth: z.coerce.number().int().min(1).max(10).default(1).describe('Depth of the sub-accounts that are schools (1: the root account\'s children)'),
    orgTypes: z.record(z.string(), orgTypeSetting).default({}).describe('Org type per Canvas account id, over the depth rule'),
    termStartDate: daySetting.optional().describe('Start of terms without dates (default: 1 July of the current school year)'),
    termEndDate: daySetting.optional().describe('End of terms without dates (default: 30 June of the current school year)'),
    idPrefix: idPrefixSetting('canvas:<host>'),
    fullSyncHours: z.coerce.number().min(0).default(24).describe('Longest time between full runs; scheduled runs in between are incremental. 0: every run is full'),
    gradebook: z.boolean().default(false).describe('Also read assignment groups, assignments and submissions as OneRoster categories, lineItems and results (course mode)'),
  })
  .refine((s) => Boolean(s.accessToken) !== Boolean(s.clientId || s.clientSecret || s.refreshToken), 'give either accessToken or clientId, clientSecret and refreshToken')
  .refine((s) => !s.clientId === !s.clientSecret && !s.clientId === !s.refreshToken, 'OAuth needs all of clientId, clientSecret and refreshToken');

type Settings = z.output<typeof settings>;

const ALL: readonly EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'enrollment'];
const GRADEBOOK: readonly EntityName[] = ['category', 'lineItem', 'result'];
/** What a skipped scope lists, and what it leaves incomplete: that entity and everything built from it. */
const SCOPES = {
  accounts: { entity: 'org', incomplete: ['org', 'course', 'class', 'user', 'enrollment'] },
  terms: { entity: 'academicSession', incomplete: ['academicSession'] },
  courses: { entity: 'course', incomplete: ['course', 'class', 'user', 'enrollment'] },
  sections: { entity: 'class', incomplete: ['class', 'user', 'enrollment'] },
  enrollments: { entity: 'enrollment', incomplete: ['user', 'enrollment'] },
  users: { entity: 'user', incomplete: ['user'] },
  gradebook: { entity: 'lineItem', incomplete: ['category', 'lineItem', 'result'] },
} as const satisfies Record<string, { entity: EntityName; incomplete: readonly EntityName[] }>;
const ENROLLMENT_STATES = ['active', 'invited', 'creation_pending', 'completed', 'inactive', 'deleted', 'rejected'];
const BATCH = 2000;
type Out<E extends EntityName> = (RecordsByEntity[E] | TombstoneRecord)[];

function clientOf(s: Settings, ctx: SyncContext, http?: Partial<HttpClientOptions>) {
  return new CanvasClient({
    http,
    baseUrl: s.baseUrl,
    accessToken: s.accessToken,
    oauth: s.clientId ? { clientId: s.clientId, clientSecret: s.clientSecret!, tokens: ctx.tokens } : undefined,
    signal: ctx.signal,
  });
}

/** The connector; `http` tunes the HTTP client (tests record waits instead of sleeping). */
export function canvasConnector(http?: Partial<HttpClientOptions>): Connector {
  return {
    kind: 'canvas',
    settings,
    secrets: ['accessToken', 'clientSecret', 'refreshToken'],

    async test(ctx) {
      const s = settings.parse(ctx.settings);
      const account = canvasAccount.parse(await clientOf(s, ctx, http).get(`/api/v1/accounts/${s.accountId}`));
      return `account ${account.id} "${account.name}" is readable`;
    },

    async open(ctx) {
      const s = settings.parse(ctx.settings);
      const client = clientOf(s, ctx, http);
      // Read first, so bad credentials or a wrong account stop the run before it starts.
      const account = canvasAccount.parse(await client.get(`/api/v1/accounts/${s.accountId}`));
      const zone = zoneOr(account.default_time_zone, 'UTC');
      const today = dateIn(zone)(new Date().toISOString())!;
      const mapper = new CanvasMapper({
        idPrefix: s.idPrefix ?? `canvas:${new URL(s.baseUrl).host}`,
        rootOrgType: s.rootOrgType, schoolDepth: s.schoolDepth, orgTypes: s.orgTypes as Record<string, OrgType>, classUnit: s.classUnit,
        termDefaults: { ...schoolYearAround(today), ...(s.termStartDate && { startDate: s.termStartDate }), ...(s.termEndDate && { endDate: s.termEndDate }) },
        timeZone: zone,
      });
      const last = s.fullSyncHours > 0 && ctx.trigger === 'schedule' ? await lastSucceededRun(ctx.orm, ctx.source.id, ALL) : null;
      const full = !last || Date.now() - last.getTime() >= s.fullSyncHours * 3_600_000;
      const run = new CanvasRun(ctx, client, mapper, account, { full, today, sectionMode: s.classUnit === 'section', gradebook: s.gradebook });
      ctx.logger.info('canvas sync', { source: ctx.source.name, account: account.id, full });
      return { batches: run.batches(), complete: () => run.complete() };
    },
  };
}

export const canvas = canvasConnector();

class CanvasRun {
  readonly #ctx: SyncContext;
  readonly #client: CanvasClient;
  readonly #map: CanvasMapper;
  readonly #account: CanvasAccount;
  readonly #full: boolean;
  readonly #today: string;
  readonly #sectionMode: boolean;
  readonly #gradebook: boolean;
  readonly #log: PullLog;
  /** Roles each Canvas user's live enrollments imply (`role|org`), and who observes whom. */
  readonly #roles = new Map<string, Set<string>>();
  readonly #observers = new Map<string, Set<string>>();

  constructor(ctx: SyncContext, client: CanvasClient, mapper: CanvasMapper, account: CanvasAccount, options: { full: boolean; today: string; sectionMode: boolean; gradebook: boolean }) {
    this.#ctx = ctx;
    this.#client = client;
    this.#map = mapper;
    this.#account = account;
    this.#full = options.full;
    this.#today = options.today;
    this.#sectionMode = options.sectionMode;
    this.#gradebook = options.gradebook && !options.sectionMode;
    this.#log = new PullLog('Canvas', options.full ? [...ALL, ...(this.#gradebook ? GRADEBOOK : [])] : ['org', 'academicSession']);
    if (options.gradebook && options.sectionMode) this.#log.add('lineItem', 'warning', 'gradebook_needs_course_mode', 'the gradebook is read in course mode only (a Canvas assignment belongs to a course, not a section); it was not read');
  }

  complete(): readonly EntityName[] {
    return this.#log.complete();
  }

  async *batches(): AsyncGenerator<RecordBatch> {
    const accountId = this.#account.id;
    const accounts = [this.#account];
    for await (const page of this.#scope('accounts', `sub-accounts of account ${accountId}`, this.#client.list(`/api/v1/accounts/${accountId}/sub_accounts`, { recursive: 'true' }))) {
      accounts.push(...this.#log.valid(canvasAccount, 'org', page));
    }
    yield this.#log.batch('org', this.#map.orgs(accounts, accountId));

    const rootId = this.#account.root_account_id ?? accountId;
    const terms: CanvasTerm[] = [];
    let termsRead = true;
    const listing = this.#client.list<unknown>(`/api/v1/accounts/${rootId}/terms`, { 'workflow_state[]': 'all' }, (page) => (page as { enrollment_terms?: unknown[] }).enrollment_terms ?? []);
    for await (const page of this.#scope('terms', `terms of root account ${rootId}; the terms of the synced courses are used instead`, listing, () => (termsRead = false))) {
      terms.push(...this.#log.valid(canvasTerm, 'academicSession', page));
    }
    yield this.#log.batch('academicSession', terms.map((t) => this.#map.session(t)));

    const courses: CanvasCourse[] = [];
    const courseTerms = new Map<string, CanvasTerm>();
    for (const params of this.#courseListings(terms, termsRead)) {
      const listed = this.#client.list(`/api/v1/accounts/${accountId}/courses`, { 'state[]': 'all', 'include[]': 'term', ...params });
      for await (const page of this.#scope('courses', `courses of account ${accountId}`, listed)) {
        const valid = this.#log.valid(canvasCourse, 'course', page);
        const mapped = valid.map((c) => this.#map.course(c));
        for (const c of valid) {
          if (c.workflow_state !== 'deleted') courses.push(c);
          if (c.term && c.enrollment_term_id) courseTerms.set(c.enrollment_term_id, { ...c.term, id: c.enrollment_term_id });
        }
        yield this.#log.batch('course', mapped.map((m) => m.course));
        const classes = mapped.flatMap((m) => (m.class ? [m.class] : []));
        if (classes.length) yield this.#log.batch('class', classes);
      }
    }
    if (!termsRead) yield this.#log.batch('academicSession', [...courseTerms.values()].map((t) => this.#map.session(t)));

    yield* this.#perCourse(courses);
    yield* this.#users(accountId);
  }

  /** Full runs list every course; incremental ones the courses of terms running today. */
  *#courseListings(terms: readonly CanvasTerm[], termsRead: boolean): Generator<Record<string, string>> {
    if (this.#full || !termsRead) {
      if (!this.#full) this.#log.add('academicSession', 'warning', 'incremental_without_terms', 'terms could not be read, so this incremental run lists every course');
      yield {};
      return;
    }
    for (const term of terms) {
      const session = this.#map.session(term);
      if ('startDate' in session && session.startDate <= this.#today && this.#today <= session.endDate) yield { enrollment_term_id: term.id };
    }
  }

  /** Sections (section mode) and enrollments, course by course. */
  async *#perCourse(courses: readonly CanvasCourse[]): AsyncGenerator<RecordBatch> {
    const classes: Out<'class'> = [];
    const enrollments: Out<'enrollment'> = [];
    for (const course of courses) {
      if (this.#sectionMode) {
        for await (const page of this.#scope('sections', `sections of course ${course.id}`, this.#client.list(`/api/v1/courses/${course.id}/sections`))) {
          classes.push(...this.#log.valid(canvasSection, 'class', page).map((section) => this.#map.section(section, course)));
        }
        if (classes.length >= BATCH) yield this.#log.batch('class', classes.splice(0));
      }
      const listed = [];
      for await (const page of this.#scope('enrollments', `enrollments of course ${course.id}`, this.#client.list(`/api/v1/courses/${course.id}/enrollments`, { 'state[]': ENROLLMENT_STATES }))) {
        listed.push(...this.#log.valid(canvasEnrollment, 'enrollment', page));
      }
      const { records, roles, observers } = this.#map.enrollments(course, listed);
      for (const r of roles) addTo(this.#roles, r.user, roleKey(r));
      for (const [student, observer] of observers) addTo(this.#observers, student, observer);
      enrollments.push(...records);
      if (enrollments.length >= BATCH) yield this.#log.batch('enrollment', enrollments.splice(0));
      if (this.#gradebook) yield* this.#gradebookOf(course);
    }
    if (classes.length) yield this.#log.batch('class', classes);
    if (enrollments.length) yield this.#log.batch('enrollment', enrollments);
  }

  /** One course's assignment groups, assignments and submissions as categories, lineItems and results. */
  async *#gradebookOf(course: CanvasCourse): AsyncGenerator<RecordBatch> {
    const groups = [];
    for await (const page of this.#scope('gradebook', `assignment groups of course ${course.id}`, this.#client.list(`/api/v1/courses/${course.id}/assignment_groups`))) {
      groups.push(...this.#log.valid(canvasAssignmentGroup, 'category', page).map((g) => this.#map.category(g)));
    }
    yield this.#log.batch('category', groups);
    const due = new Map<string, string | undefined>();
    const lineItems = [];
    for await (const page of this.#scope('gradebook', `assignments of course ${course.id}`, this.#client.list(`/api/v1/courses/${course.id}/assignments`))) {
      for (const a of this.#log.valid(canvasAssignment, 'lineItem', page)) {
        const item = this.#map.lineItem(a, course);
        lineItems.push(item);
        if ('dueDate' in item) due.set(a.id, item.dueDate);
      }
    }
    yield this.#log.batch('lineItem', lineItems);
    const results: Out<'result'> = [];
    const listed = this.#client.list(`/api/v1/courses/${course.id}/students/submissions`, { 'student_ids[]': 'all' });
    for await (const page of this.#scope('gradebook', `submissions of course ${course.id}`, listed)) {
      for (const sub of this.#log.valid(canvasSubmission, 'result', page)) {
        // Submissions to assignments that are not lineItems (unpublished) are not results either.
        if (!due.has(sub.assignment_id)) continue;
        const result = this.#map.result(sub, course, due.get(sub.assignment_id));
        if (result) results.push(result);
      }
      if (results.length >= BATCH) yield this.#log.batch('result', results.splice(0));
    }
    yield this.#log.batch('result', results);
  }

  /**
   * Users with the roles their enrollments imply. Only users with a role are rostered; observers
   * become agents of the students they observe if they are rostered too. An incremental run saw only
   * some enrollments, so the roles stored from earlier runs are kept beside what it found.
   */
  async *#users(accountId: string): AsyncGenerator<RecordBatch> {
    const users = new Map<string, CanvasUser>();
    for await (const page of this.#scope('users', `users of account ${accountId}`, this.#client.list(`/api/v1/accounts/${accountId}/users`, { 'include[]': 'email', sort: 'id' }))) {
      for (const u of this.#log.valid(canvasUser, 'user', page)) users.set(u.id, u);
    }
    if (!this.#full) await this.#keepStoredRoles();
    const rostered = new Set([...users.keys()].filter((id) => this.#roles.get(id)?.size));
    const batch: Out<'user'> = [];
    let left = 0;
    for (const [id, user] of [...users].sort(([a], [b]) => compareIds(a, b))) {
      const agents = [...(this.#observers.get(id) ?? [])].filter((o) => rostered.has(o));
      const record = this.#map.user(user, this.#roles.get(id) ?? [], agents);
      if (!record) {
        left++;
        continue;
      }
      batch.push(record);
      if (batch.length >= BATCH) yield this.#log.batch('user', batch.splice(0));
    }
    if (left) this.#log.add('user', 'warning', 'not_rostered', `${left} Canvas users have no student, teacher, TA or observer enrollment in the synced courses and were left out`);
    yield this.#log.batch('user', batch);
  }

  /** Roles and observers of this source's users as stored, merged into what this run found. */
  async #keepStoredRoles() {
    const prefix = this.#map.id('user', '');
    const { rows } = await sql<{ id: string; role: string; org: string; agents: string[] | null }>`
      select u.sourced_id as id, r.role, r.org_sourced_id as org, u.agent_sourced_ids as agents
      from "user" u join user_role r on r.user_sourced_id = u.sourced_id
      where u.source_id = ${this.#ctx.source.id} and u.status = 'active'`.execute(this.#ctx.orm.em.fork().getKysely());
    for (const row of rows) {
      if (!row.id.startsWith(prefix)) continue;
      const user = row.id.slice(prefix.length);
      addTo(this.#roles, user, roleKey(row));
      for (const agent of row.agents ?? []) if (agent.startsWith(prefix)) addTo(this.#observers, user, agent.slice(prefix.length));
    }
  }

  /** A listing this token may not read: skipped with an issue (see PullLog.skippable). */
  #scope<T>(kind: keyof typeof SCOPES, what: string, pages: AsyncGenerator<T[]>, onSkip?: () => void): AsyncGenerator<T[]> {
    return this.#log.skippable(pages, SCOPES[kind], what, (e) => (e instanceof CanvasPermissionError ? e.message : undefined), onSkip);
  }
}
