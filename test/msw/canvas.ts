import { http, type HttpHandler } from 'msw';

/**
 * A fake Canvas (reference: connectors.md §2): the roster endpoints a connector reads, with
 * Canvas's own payload shapes (terms wrapped in `enrollment_terms`, `enrollment_state`, SIS fields),
 * its paging (`per_page` default 10, capped; `Link` with current/next/prev/first and `last` except
 * for account courses; enrollments paged by bookmark), numeric ids unless the client asks for
 * `application/json+canvas-string-ids`, bearer tokens (401 + WWW-Authenticate when unknown), the
 * OAuth2 refresh grant, and X-Rate-Limit-Remaining on every answer. One `fetch` serves both msw
 * (tests) and a real HTTP server (the benchmark). Failures are injected with msw `server.use`.
 */

export interface Account { id: string; name: string; parent_account_id: string | null; root_account_id: string | null; sis_account_id?: string | null; workflow_state: string; default_time_zone?: string }
export interface Term { id: string; name: string; start_at: string | null; end_at: string | null; workflow_state: string; sis_term_id?: string | null }
export interface Course { id: string; name: string; course_code: string; workflow_state: string; account_id: string; enrollment_term_id: string; sis_course_id?: string | null }
export interface Section { id: string; name: string; course_id: string; sis_section_id?: string | null }
export interface User { id: string; name: string; sortable_name?: string; short_name?: string; first_name?: string; last_name?: string; sis_user_id?: string | null; login_id?: string; email?: string }
export interface Enrollment { id: string; course_id: string; course_section_id: string; user_id: string; type: string; enrollment_state: string; associated_user_id?: string | null; start_at?: string | null; end_at?: string | null }

export interface AssignmentGroup { id: string; course_id: string; name: string; position: number; group_weight: number }
export interface Assignment {
  id: string; course_id: string; name: string; description: string | null; created_at: string; unlock_at: string | null; due_at: string | null;
  lock_at: string | null; points_possible: number | null; assignment_group_id: string; published: boolean;
}
export interface Submission {
  id: string; assignment_id: string; user_id: string; score: number | null; grade: string | null; workflow_state: string;
  submitted_at: string | null; graded_at: string | null; excused: boolean | null; late: boolean; missing: boolean;
}

export interface CanvasWorld {
  accounts: Account[];
  terms: Term[];
  courses: Course[];
  sections: Section[];
  users: User[];
  enrollments: Enrollment[];
  /** The gradebook (read when a source sets `gradebook`). */
  assignmentGroups?: AssignmentGroup[];
  assignments?: Assignment[];
  submissions?: Submission[];
}

export interface FakeCanvasOptions {
  /** Canvas's cap on per_page (100 in Canvas; lower in tests to get many pages). */
  maxPerPage?: number;
  /** Valid access tokens. */
  tokens?: string[];
  /** An OAuth2 developer key, and the refresh tokens it accepts. */
  oauth?: { clientId: string; clientSecret: string; refreshTokens: string[]; rotate?: boolean };
  /** Plays a Canvas (or proxy) that ignores the string-ids Accept header: ids as JSON numbers, past 2^53 too. */
  numericIds?: boolean;
  /** X-Rate-Limit-Remaining to report (default 600). */
  remaining?: () => number;
}

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A small district shaped like the reference's examples: a root account, two schools, a department,
 * a term running today, an older one, Canvas's undated Default Term and a deleted one; courses in
 * every placement; students, a teacher, a TA, an observer, a designer and a user whose id is above 2^53.
 */
export function smallCanvas(now = Date.now()): CanvasWorld {
  return {
    accounts: [
      { id: '1', name: 'Lakeside Unified', parent_account_id: null, root_account_id: null, workflow_state: 'active', default_time_zone: 'America/Chicago' },
      { id: '7', name: 'North High', parent_account_id: '1', root_account_id: '1', sis_account_id: 'SCH-NORTH', workflow_state: 'active' },
      { id: '8', name: 'South Middle', parent_account_id: '1', root_account_id: '1', sis_account_id: 'SCH-SOUTH', workflow_state: 'active' },
      { id: '9', name: 'North Math Department', parent_account_id: '7', root_account_id: '1', sis_account_id: null, workflow_state: 'active' },
    ],
    terms: [
      { id: '12', name: 'Fall', start_at: iso(now - 60 * DAY), end_at: iso(now + 60 * DAY), workflow_state: 'active', sis_term_id: 'FALL' },
      { id: '11', name: 'Last Spring', start_at: iso(now - 400 * DAY), end_at: iso(now - 250 * DAY), workflow_state: 'active', sis_term_id: 'SPRING' },
      { id: '1', name: 'Default Term', start_at: null, end_at: null, workflow_state: 'active', sis_term_id: null },
      { id: '13', name: 'Cancelled Term', start_at: null, end_at: null, workflow_state: 'deleted', sis_term_id: null },
    ],
    courses: [
      { id: '370663', name: 'Algebra I - Fall', course_code: 'ALG1', workflow_state: 'available', account_id: '9', enrollment_term_id: '12', sis_course_id: 'ALG1-F' },
      { id: '370664', name: 'English 9 - Fall', course_code: 'ENG9', workflow_state: 'unpublished', account_id: '7', enrollment_term_id: '12', sis_course_id: 'ENG9-F' },
      { id: '370665', name: 'Science 7 - Spring', course_code: 'SCI7', workflow_state: 'completed', account_id: '8', enrollment_term_id: '11', sis_course_id: null },
      { id: '370666', name: 'Sandbox', course_code: 'SANDBOX', workflow_state: 'available', account_id: '1', enrollment_term_id: '1', sis_course_id: null },
      { id: '370667', name: 'Deleted Course', course_code: 'GONE', workflow_state: 'deleted', account_id: '7', enrollment_term_id: '12', sis_course_id: null },
    ],
    sections: [
      { id: '5521', name: 'Period 1', course_id: '370663', sis_section_id: 'ALG1-F-01' },
      { id: '5522', name: 'Period 2', course_id: '370663', sis_section_id: 'ALG1-F-02' },
      { id: '5523', name: 'English 9 - Fall', course_id: '370664', sis_section_id: null },
      { id: '5524', name: 'Science 7 - Spring', course_id: '370665', sis_section_id: null },
      { id: '5525', name: 'Sandbox', course_id: '370666', sis_section_id: null },
    ],
    users: [
      { id: '4021', name: 'Jordan Avery Lee', sortable_name: 'Lee, Jordan Avery', short_name: 'Jordan Lee', sis_user_id: 'STU-4021', login_id: 'jlee', email: 'jlee@lakeside.example.org' },
      { id: '4022', name: 'Maria Gomez', sortable_name: 'Gomez, Maria', first_name: 'Maria', last_name: 'Gomez', sis_user_id: 'T-4022', login_id: 'mgomez', email: 'mgomez@lakeside.example.org' },
      { id: '4023', name: 'Sam Ortiz', sortable_name: 'Ortiz, Sam', sis_user_id: null, login_id: 'sortiz', email: 'sortiz@lakeside.example.org' },
      { id: '4024', name: 'Pat Lee', sortable_name: 'Lee, Pat', login_id: 'plee.parent', email: 'pat.lee@example.com' },
      { id: '4025', name: 'Dana Designer', sortable_name: 'Designer, Dana', login_id: 'ddesigner' },
      { id: '4026', name: 'Cher', sortable_name: 'Cher', login_id: 'cher', sis_user_id: 'STU-4026' },
      { id: '4027', name: 'Riley Chen', sortable_name: 'Chen, Riley', login_id: 'rchen', sis_user_id: 'STU-4027', email: 'rchen@lakeside.example.org' },
      { id: '90071992547409931', name: 'Sharded Student', sortable_name: 'Student, Sharded', login_id: 'sharded', sis_user_id: 'STU-BIG' },
      { id: '4030', name: 'Never Enrolled', sortable_name: 'Enrolled, Never', login_id: 'nobody' },
    ],
    enrollments: [
      { id: '98001', course_id: '370663', course_section_id: '5521', user_id: '4021', type: 'StudentEnrollment', enrollment_state: 'active' },
      { id: '98002', course_id: '370663', course_section_id: '5522', user_id: '4021', type: 'StudentEnrollment', enrollment_state: 'active' },
      { id: '98003', course_id: '370663', course_section_id: '5521', user_id: '4022', type: 'TeacherEnrollment', enrollment_state: 'active' },
      { id: '98004', course_id: '370663', course_section_id: '5521', user_id: '4023', type: 'TaEnrollment', enrollment_state: 'invited' },
      { id: '98005', course_id: '370663', course_section_id: '5521', user_id: '4024', type: 'ObserverEnrollment', enrollment_state: 'active', associated_user_id: '4021' },
      { id: '98006', course_id: '370663', course_section_id: '5521', user_id: '4025', type: 'DesignerEnrollment', enrollment_state: 'active' },
      { id: '98007', course_id: '370663', course_section_id: '5522', user_id: '90071992547409931', type: 'StudentEnrollment', enrollment_state: 'creation_pending' },
      { id: '98008', course_id: '370664', course_section_id: '5523', user_id: '4021', type: 'StudentEnrollment', enrollment_state: 'inactive' },
      { id: '98009', course_id: '370664', course_section_id: '5523', user_id: '4026', type: 'StudentEnrollment', enrollment_state: 'rejected' },
      { id: '98010', course_id: '370664', course_section_id: '5523', user_id: '4027', type: 'StudentEnrollment', enrollment_state: 'deleted' },
      { id: '98011', course_id: '370664', course_section_id: '5523', user_id: '4022', type: 'TeacherEnrollment', enrollment_state: 'active', start_at: iso(now - 60 * DAY), end_at: iso(now + 60 * DAY) },
      { id: '98012', course_id: '370665', course_section_id: '5524', user_id: '4026', type: 'StudentEnrollment', enrollment_state: 'completed' },
      { id: '98013', course_id: '370665', course_section_id: '5524', user_id: '4027', type: 'StudentEnrollment', enrollment_state: 'completed' },
      { id: '98014', course_id: '370665', course_section_id: '5524', user_id: '4022', type: 'TeacherEnrollment', enrollment_state: 'completed' },
      { id: '98015', course_id: '370666', course_section_id: '5525', user_id: '4022', type: 'TeacherEnrollment', enrollment_state: 'active' },
    ],
    assignmentGroups: [
      { id: '301', course_id: '370663', name: 'Homework', position: 1, group_weight: 40 },
      { id: '302', course_id: '370663', name: 'Tests', position: 2, group_weight: 60 },
    ],
    assignments: [
      { id: '9001', course_id: '370663', name: 'Linear equations', description: '<p>Problems 1&ndash;20, <b>odd</b> only</p>', created_at: '2024-09-01T13:00:00Z',
        unlock_at: '2024-09-02T13:00:00Z', due_at: '2024-09-09T04:59:59Z', lock_at: null, points_possible: 20, assignment_group_id: '301', published: true },
      { id: '9002', course_id: '370663', name: 'Unit 1 test', description: null, created_at: '2024-09-01T13:00:00Z',
        unlock_at: null, due_at: '2024-09-20T15:00:00Z', lock_at: null, points_possible: 100, assignment_group_id: '302', published: true },
      { id: '9003', course_id: '370663', name: 'Draft quiz', description: null, created_at: '2024-09-03T13:00:00Z',
        unlock_at: null, due_at: null, lock_at: null, points_possible: 10, assignment_group_id: '301', published: false },
    ],
    submissions: [
      { id: '71001', assignment_id: '9001', user_id: '4021', score: 18, grade: '18', workflow_state: 'graded', submitted_at: '2024-09-10T02:10:00Z', graded_at: '2024-09-11T20:00:00Z', excused: false, late: true, missing: false },
      { id: '71002', assignment_id: '9001', user_id: '90071992547409931', score: null, grade: null, workflow_state: 'unsubmitted', submitted_at: null, graded_at: null, excused: null, late: false, missing: true },
      { id: '71003', assignment_id: '9002', user_id: '4021', score: null, grade: null, workflow_state: 'unsubmitted', submitted_at: null, graded_at: null, excused: true, late: false, missing: false },
      // A placeholder (nothing handed in, nothing graded) and a submission to an unpublished assignment: no results.
      { id: '71004', assignment_id: '9002', user_id: '90071992547409931', score: null, grade: null, workflow_state: 'unsubmitted', submitted_at: null, graded_at: null, excused: null, late: false, missing: false },
      { id: '71005', assignment_id: '9003', user_id: '4021', score: null, grade: null, workflow_state: 'submitted', submitted_at: '2024-09-04T02:10:00Z', graded_at: null, excused: null, late: false, missing: false },
    ],
  };
}

/**
 * A big district for the benchmark: `schools` schools under a root, one running term, `courses`
 * courses of `perCourse` enrollments each (one teacher, the rest students), `users` users.
 */
export function bigCanvas(size: { users: number; courses: number; perCourse: number; schools?: number }, now = Date.now()): CanvasWorld {
  const schools = size.schools ?? 10;
  const teachers = size.courses;
  const world: CanvasWorld = {
    accounts: [{ id: '1', name: 'Big District', parent_account_id: null, root_account_id: null, workflow_state: 'active', default_time_zone: 'America/New_York' }],
    terms: [{ id: '1', name: 'School Year', start_at: iso(now - 90 * DAY), end_at: iso(now + 180 * DAY), workflow_state: 'active', sis_term_id: 'SY' }],
    courses: [], sections: [], users: [], enrollments: [],
  };
  for (let s = 0; s < schools; s++) world.accounts.push({ id: String(100 + s), name: `School ${s + 1}`, parent_account_id: '1', root_account_id: '1', sis_account_id: `SCH-${s + 1}`, workflow_state: 'active' });
  for (let u = 0; u < size.users; u++) {
    const id = String(10_000 + u);
    world.users.push({ id, name: `Given${u} Family${u}`, sortable_name: `Family${u}, Given${u}`, sis_user_id: `SIS-${u}`, login_id: `user${u}`, email: `user${u}@big.example.org` });
  }
  let enrollment = 1_000_000;
  let student = 0;
  const students = size.users - teachers;
  for (let c = 0; c < size.courses; c++) {
    const id = String(500_000 + c);
    world.courses.push({ id, name: `Course ${c}`, course_code: `C${c}`, workflow_state: 'available', account_id: String(100 + (c % schools)), enrollment_term_id: '1', sis_course_id: `C-${c}` });
    world.sections.push({ id: String(700_000 + c), name: `Course ${c}`, course_id: id, sis_section_id: null });
    world.enrollments.push({ id: String(enrollment++), course_id: id, course_section_id: String(700_000 + c), user_id: String(10_000 + c), type: 'TeacherEnrollment', enrollment_state: 'active' });
    for (let k = 1; k < size.perCourse; k++) {
      world.enrollments.push({ id: String(enrollment++), course_id: id, course_section_id: String(700_000 + c), user_id: String(10_000 + teachers + (student++ % students)), type: 'StudentEnrollment', enrollment_state: 'active' });
    }
  }
  return world;
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });

export class FakeCanvas {
  readonly base: string;
  world: CanvasWorld;
  readonly options: FakeCanvasOptions;
  readonly tokens: Set<string>;
  readonly refreshTokens: Set<string>;
  /** Every request's path and query, in order. */
  readonly requests: string[] = [];
  #issued = 0;
  #index?: { users: User[]; enrollments: Enrollment[]; usersLength: number; enrollmentsLength: number; byId: Map<string, User>; byCourse: Map<string, Enrollment[]> };

  constructor(base: string, world: CanvasWorld, options: FakeCanvasOptions = {}) {
    this.base = base.replace(/\/$/, '');
    this.world = world;
    this.options = options;
    this.tokens = new Set(options.tokens ?? ['canvas-admin-token']);
    this.refreshTokens = new Set(options.oauth?.refreshTokens ?? []);
  }

  /** msw handlers for this Canvas. */
  handlers(): HttpHandler[] {
    return [http.all(`${this.base}/*`, ({ request }) => this.fetch(request))];
  }

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    this.requests.push(`${url.pathname}${url.search}`);
    if (url.pathname === '/login/oauth2/token' && request.method === 'POST') return this.#token(new URLSearchParams(await request.text()));
    const token = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
    if (!token || !this.tokens.has(token)) {
      return json({ status: 'unauthenticated', errors: [{ message: 'user authorization required' }] }, 401, { 'www-authenticate': 'Bearer realm="canvas-lms"' });
    }
    const response = this.#route(url);
    const stringIds = !this.options.numericIds && (request.headers.get('accept') ?? '').includes('application/json+canvas-string-ids');
    const headers = new Headers(response.headers);
    headers.set('x-rate-limit-remaining', (this.options.remaining?.() ?? 600).toFixed(1));
    headers.set('x-request-cost', '0.5');
    let body = await response.text();
    // Canvas sends ids as JSON numbers unless asked for strings, even past 2^53.
    if (!stringIds) body = body.replace(/"(id|[a-z_]+_id)":"(\d+)"/g, '"$1":$2');
    return new Response(body, { status: response.status, headers });
  };

  #token(form: URLSearchParams): Response {
    const oauth = this.options.oauth;
    if (!oauth || form.get('client_id') !== oauth.clientId || form.get('client_secret') !== oauth.clientSecret) {
      return json({ error: 'invalid_client', error_description: 'unknown client' }, 401);
    }
    if (form.get('grant_type') !== 'refresh_token' || !this.refreshTokens.has(form.get('refresh_token') ?? '')) {
      return json({ error: 'invalid_grant', error_description: 'refresh_token not found' }, 400);
    }
    const access = `canvas-oauth-${++this.#issued}`;
    this.tokens.add(access);
    // Canvas keeps the refresh token (the answer carries none); `rotate` plays a server that rotates it.
    if (!oauth.rotate) return json({ access_token: access, token_type: 'Bearer', user: { id: '1', name: 'Sync Admin' }, expires_in: 3600 });
    this.refreshTokens.delete(form.get('refresh_token')!);
    const next = `rt-rotated-${this.#issued}`;
    this.refreshTokens.add(next);
    return json({ access_token: access, token_type: 'Bearer', expires_in: 3600, refresh_token: next });
  }

  #route(url: URL): Response {
    const p = url.pathname.split('/').filter(Boolean);
    const q = url.searchParams;
    const w = this.world;
    const notFound = () => json({ errors: [{ message: 'The specified resource does not exist.' }] }, 404);
    if (p[0] !== 'api' || p[1] !== 'v1') return notFound();
    if (p[2] === 'accounts') {
      const account = w.accounts.find((a) => a.id === p[3] || (p[3]?.startsWith('sis_account_id:') && a.sis_account_id === p[3].slice(15)));
      if (!account) return notFound();
      const tree = this.#subtree(account.id);
      if (p.length === 4) return json(account);
      switch (p[4]) {
        case 'sub_accounts': {
          const children = q.get('recursive') === 'true' ? tree.filter((a) => a.id !== account.id) : w.accounts.filter((a) => a.parent_account_id === account.id);
          return this.#page(url, children);
        }
        case 'terms': {
          if (account.parent_account_id) return json({ message: 'Terms only belong to root_accounts.' }, 400);
          const states = q.getAll('workflow_state[]');
          const terms = w.terms.filter((t) => states.includes('all') || (states.length ? states.includes(t.workflow_state) : t.workflow_state === 'active'));
          return this.#page(url, terms, { wrap: 'enrollment_terms' });
        }
        case 'courses': {
          const ids = new Set(tree.map((a) => a.id));
          const states = q.getAll('state[]').map((s) => (s === 'created' || s === 'claimed' ? 'unpublished' : s));
          const term = q.get('enrollment_term_id');
          const withTerm = q.getAll('include[]').includes('term');
          const courses = w.courses
            .filter((c) => ids.has(c.account_id) && (!term || c.enrollment_term_id === term))
            .filter((c) => (states.includes('all') ? true : states.length ? states.includes(c.workflow_state) : c.workflow_state !== 'deleted'))
            .map((c) => ({ ...c, root_account_id: '1', ...(withTerm && { term: termSummary(w.terms.find((t) => t.id === c.enrollment_term_id)) }) }));
          return this.#page(url, courses, { noLast: true });
        }
        case 'users': {
          const ids = new Set(tree.map((a) => a.id));
          const courses = new Set(w.courses.filter((c) => ids.has(c.account_id)).map((c) => c.id));
          const inAccount = account.parent_account_id ? new Set(w.enrollments.filter((e) => courses.has(e.course_id)).map((e) => e.user_id)) : null;
          const withEmail = q.getAll('include[]').includes('email');
          const users = w.users
            .filter((u) => !inAccount || inAccount.has(u.id))
            .map(({ email, ...u }) => ({ ...u, created_at: '2024-02-01T15:04:05-06:00', ...(withEmail && email && { email }) }));
          return this.#page(url, users);
        }
      }
      return notFound();
    }
    if (p[2] === 'courses' && p[3]) {
      const course = w.courses.find((c) => c.id === p[3]);
      if (!course) return notFound();
      if (p[4] === 'sections') return this.#page(url, w.sections.filter((s) => s.course_id === course.id).map((s) => ({ ...s, sis_course_id: course.sis_course_id ?? null, start_at: null, end_at: null, nonxlist_course_id: null })));
      if (p[4] === 'enrollments') {
        const states = q.getAll('state[]');
        const { byId, byCourse } = this.#lookup();
        const enrollments = (byCourse.get(course.id) ?? [])
          .filter((e) => (states.length ? states.includes(e.enrollment_state) : ['active', 'invited'].includes(e.enrollment_state)))
          .map((e) => {
            const user = byId.get(e.user_id);
            return {
              ...e, root_account_id: '1', sis_course_id: course.sis_course_id ?? null, role: e.type, limit_privileges_to_course_section: false,
              created_at: '2024-08-28T14:02:11Z', updated_at: '2024-08-28T14:02:11Z', start_at: e.start_at ?? null, end_at: e.end_at ?? null,
              associated_user_id: e.associated_user_id ?? null, total_activity_time: 5412,
              html_url: `${this.base}/courses/${course.id}/users/${e.user_id}`,
              user: user && { id: user.id, name: user.name, sortable_name: user.sortable_name, short_name: user.short_name, sis_user_id: user.sis_user_id ?? null, login_id: user.login_id },
            };
          });
        return this.#page(url, enrollments, { bookmark: true });
      }
      if (p[4] === 'assignment_groups') {
        return this.#page(url, (w.assignmentGroups ?? []).filter((g) => g.course_id === course.id)
          .map(({ course_id: _, ...g }) => ({ ...g, sis_source_id: null, integration_data: {}, rules: {} })));
      }
      if (p[4] === 'assignments') {
        return this.#page(url, (w.assignments ?? []).filter((a) => a.course_id === course.id).map((a) => ({
          ...a, workflow_state: a.published ? 'published' : 'unpublished', grading_type: 'points', submission_types: ['online_upload'],
          html_url: `${this.base}/courses/${course.id}/assignments/${a.id}`, has_submitted_submissions: true, muted: false,
        })));
      }
      if (p[4] === 'students' && p[5] === 'submissions') {
        // Without student_ids[] Canvas answers for the calling user (an admin: nobody).
        const ids = q.getAll('student_ids[]');
        const assignments = new Set((w.assignments ?? []).filter((a) => a.course_id === course.id).map((a) => a.id));
        const subs = ids.includes('all') ? (w.submissions ?? []).filter((sub) => assignments.has(sub.assignment_id)) : [];
        return this.#page(url, subs.map((sub) => ({
          ...sub, attempt: sub.submitted_at ? 1 : null, entered_score: sub.score, entered_grade: sub.grade, seconds_late: sub.late ? 3600 : 0,
          submission_type: sub.submitted_at ? 'online_upload' : null, grade_matches_current_submission: true, posted_at: sub.graded_at,
          preview_url: `${this.base}/courses/${course.id}/assignments/${sub.assignment_id}/submissions/${sub.user_id}?preview=1`,
        })));
      }
    }
    return notFound();
  }

  /** Users by id and enrollments by course, rebuilt when a test replaces or grows those lists. */
  #lookup() {
    const { users, enrollments } = this.world;
    const i = this.#index;
    if (i && i.users === users && i.enrollments === enrollments && i.usersLength === users.length && i.enrollmentsLength === enrollments.length) return i;
    const byCourse = new Map<string, Enrollment[]>();
    for (const e of enrollments) {
      const list = byCourse.get(e.course_id);
      if (list) list.push(e);
      else byCourse.set(e.course_id, [e]);
    }
    return (this.#index = { users, enrollments, usersLength: users.length, enrollmentsLength: enrollments.length, byId: new Map(users.map((u) => [u.id, u])), byCourse });
  }

  #subtree(id: string): Account[] {
    const found = this.world.accounts.filter((a) => a.id === id);
    for (let i = 0; i < found.length; i++) found.push(...this.world.accounts.filter((a) => a.parent_account_id === found[i]!.id));
    return found;
  }

  /** One page of a listing with Canvas's Link header: numbered pages, or bookmarks; `last` where Canvas gives it. */
  #page(url: URL, items: unknown[], how: { wrap?: string; noLast?: boolean; bookmark?: boolean } = {}): Response {
    const perPage = Math.min(Math.max(1, Number(url.searchParams.get('per_page') ?? 10) || 10), this.options.maxPerPage ?? 100);
    const raw = url.searchParams.get('page') ?? '1';
    const index = raw.startsWith('bookmark:') ? Number(Buffer.from(raw.slice(9), 'base64url').toString()) : (Number(raw) - 1) * perPage;
    const slice = items.slice(index, index + perPage);
    const link = (at: number, rel: string) => {
      const target = new URL(url.toString().replace(/^https?:\/\/[^/]+/, this.base));
      target.searchParams.set('page', how.bookmark ? `bookmark:${Buffer.from(String(at)).toString('base64url')}` : String(at / perPage + 1));
      target.searchParams.set('per_page', String(perPage));
      return `<${target}>; rel="${rel}"`;
    };
    const links = [link(index, 'current')];
    if (index + perPage < items.length) links.push(link(index + perPage, 'next'));
    if (index > 0) links.push(link(Math.max(0, index - perPage), 'prev'));
    links.push(link(0, 'first'));
    if (!how.noLast && !how.bookmark) links.push(link(Math.max(0, Math.ceil(items.length / perPage) - 1) * perPage, 'last'));
    return json(how.wrap ? { [how.wrap]: slice } : slice, 200, { link: links.join(',') });
  }
}

function termSummary(term: Term | undefined) {
  return term && { id: term.id, name: term.name, start_at: term.start_at, end_at: term.end_at };
}
