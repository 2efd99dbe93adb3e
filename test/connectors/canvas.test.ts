import { sql } from 'kysely';
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, test } from 'vitest';
import { canvasConnector } from '../../connectors/canvas/index.ts';
import { CanvasMapper, namesOf } from '../../connectors/canvas/map.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { getRun } from '../../src/sync/runs.ts';
import { getSource, saveSource, syncSource, testSource } from '../../src/sync/sources.ts';
import { activeIds, oneRosterReader, scheduledRuns, useConnectorHarness, withScheduler, written } from '../support/connectors.ts';
import { FakeCanvas, smallCanvas } from '../msw/canvas.ts';

const BASE = 'https://canvas.example.edu';
const P = 'canvas:canvas.example.edu';

const { server, db, waits, deps, sealedSecrets } = useConnectorHarness(canvasConnector, './data/test-canvas');
let fake: FakeCanvas;
beforeEach(() => {
  fake = new FakeCanvas(BASE, smallCanvas(), { maxPerPage: 2 });
  server.use(...fake.handlers());
});

const settings = { baseUrl: BASE, accountId: '1', accessToken: 'canvas-admin-token' };
const register = (extra: Record<string, unknown> = {}, schedule?: string) => saveSource(deps(), { name: 'canvas', kind: 'canvas', settings: { ...settings, ...extra }, schedule });
const sync = (trigger = 'manual') => syncSource(deps(), 'canvas', trigger);
const q = <T,>(query: ReturnType<typeof sql<T>>) => db.query(query);
const active = (table: string) => activeIds(db, table);
const issues = async (runId: number) => (await getRun(db.orm, runId, 1000))!.issueList;

describe('Canvas mapping', () => {
  test('orgs, terms, courses and classes, field by field', async () => {
    await register();
    const run = await sync();
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    const orgs = await q(sql`select sourced_id, name, type, identifier, parent_sourced_id, native_key from org order by sourced_id`);
    expect(orgs).toEqual([
      { sourced_id: `${P}:account:1`, name: 'Lakeside Unified', type: 'district', identifier: null, parent_sourced_id: null, native_key: '1' },
      { sourced_id: `${P}:account:7`, name: 'North High', type: 'school', identifier: 'SCH-NORTH', parent_sourced_id: `${P}:account:1`, native_key: '7' },
      { sourced_id: `${P}:account:8`, name: 'South Middle', type: 'school', identifier: 'SCH-SOUTH', parent_sourced_id: `${P}:account:1`, native_key: '8' },
      { sourced_id: `${P}:account:9`, name: 'North Math Department', type: 'department', identifier: null, parent_sourced_id: `${P}:account:7`, native_key: '9' },
    ]);
    const terms = await q(sql<Record<string, string>>`select sourced_id, title, type, start_date::text, end_date::text, school_year from academic_session order by sourced_id`);
    const world = smallCanvas();
    const chicago = (iso: string | null) => new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Chicago' }).format(new Date(iso!));
    const fall = world.terms.find((t) => t.id === '12')!;
    const today = chicago(new Date().toISOString());
    const year = Number(today.slice(0, 4)) - (Number(today.slice(5, 7)) < 7 ? 1 : 0);
    expect(terms).toEqual([
      // The undated Default Term gets the school year around today; the deleted term is not there.
      { sourced_id: `${P}:term:1`, title: 'Default Term', type: 'term', start_date: `${year}-07-01`, end_date: `${year + 1}-06-30`, school_year: String(year + 1) },
      expect.objectContaining({ sourced_id: `${P}:term:11`, title: 'Last Spring' }),
      { sourced_id: `${P}:term:12`, title: 'Fall', type: 'term', start_date: chicago(fall.start_at), end_date: chicago(fall.end_at), school_year: chicago(fall.end_at).slice(0, 4) },
    ]);
    expect(await q(sql`select sourced_id, title, course_code, org_sourced_id from course order by sourced_id`)).toEqual([
      // A course in a department belongs to the department's school; one in the root account to the district.
      { sourced_id: `${P}:course:370663`, title: 'Algebra I - Fall', course_code: 'ALG1', org_sourced_id: `${P}:account:7` },
      { sourced_id: `${P}:course:370664`, title: 'English 9 - Fall', course_code: 'ENG9', org_sourced_id: `${P}:account:7` },
      { sourced_id: `${P}:course:370665`, title: 'Science 7 - Spring', course_code: 'SCI7', org_sourced_id: `${P}:account:8` },
      { sourced_id: `${P}:course:370666`, title: 'Sandbox', course_code: 'SANDBOX', org_sourced_id: `${P}:account:1` },
    ]);
    expect(await q(sql`select sourced_id, title, class_code, class_type, course_sourced_id, school_sourced_id, term_sourced_ids from class order by sourced_id`)).toEqual([
      { sourced_id: `${P}:course:370663`, title: 'Algebra I - Fall', class_code: 'ALG1', class_type: 'scheduled', course_sourced_id: `${P}:course:370663`, school_sourced_id: `${P}:account:7`, term_sourced_ids: [`${P}:term:12`] },
      expect.objectContaining({ sourced_id: `${P}:course:370664`, term_sourced_ids: [`${P}:term:12`] }),
      expect.objectContaining({ sourced_id: `${P}:course:370665`, school_sourced_id: `${P}:account:8`, term_sourced_ids: [`${P}:term:11`] }),
      expect.objectContaining({ sourced_id: `${P}:course:370666`, term_sourced_ids: [`${P}:term:1`] }),
    ]);
  });

  test('users, roles and enrollments in every state, field by field', async () => {
    await register();
    const run = (await sync())!;
    const users = await q(sql`select sourced_id, username, given_name, family_name, identifier, email, user_ids, agent_sourced_ids, enabled_user from "user" order by sourced_id`);
    expect(users).toEqual([
      { sourced_id: `${P}:user:4021`, username: 'jlee', given_name: 'Jordan Avery', family_name: 'Lee', identifier: 'STU-4021', email: 'jlee@lakeside.example.org',
        user_ids: [{ type: 'canvas', identifier: '4021' }, { type: 'sis', identifier: 'STU-4021' }, { type: 'login', identifier: 'jlee' }],
        agent_sourced_ids: [`${P}:user:4024`], enabled_user: true },
      // first_name/last_name win over sortable_name when Canvas sends them.
      expect.objectContaining({ sourced_id: `${P}:user:4022`, given_name: 'Maria', family_name: 'Gomez', identifier: 'T-4022' }),
      expect.objectContaining({ sourced_id: `${P}:user:4023`, given_name: 'Sam', family_name: 'Ortiz', identifier: null, user_ids: [{ type: 'canvas', identifier: '4023' }, { type: 'login', identifier: 'sortiz' }] }),
      expect.objectContaining({ sourced_id: `${P}:user:4024`, username: 'plee.parent', email: 'pat.lee@example.com' }),
      // One-word names: all given name.
      expect.objectContaining({ sourced_id: `${P}:user:4026`, given_name: 'Cher', family_name: '' }),
      expect.objectContaining({ sourced_id: `${P}:user:4027` }),
      // Above 2^53: exact.
      expect.objectContaining({ sourced_id: `${P}:user:90071992547409931`, user_ids: expect.arrayContaining([{ type: 'canvas', identifier: '90071992547409931' }]) }),
    ]);
    const roles = await q(sql`select user_sourced_id as u, role, role_type, org_sourced_id as org from user_role order by user_sourced_id, role_type, org_sourced_id`);
    expect(roles).toEqual([
      { u: `${P}:user:4021`, role: 'student', role_type: 'primary', org: `${P}:account:7` },
      // Schools before the district for the primary role.
      { u: `${P}:user:4022`, role: 'teacher', role_type: 'primary', org: `${P}:account:7` },
      { u: `${P}:user:4022`, role: 'teacher', role_type: 'secondary', org: `${P}:account:1` },
      { u: `${P}:user:4022`, role: 'teacher', role_type: 'secondary', org: `${P}:account:8` },
      { u: `${P}:user:4023`, role: 'aide', role_type: 'primary', org: `${P}:account:7` },
      { u: `${P}:user:4024`, role: 'guardian', role_type: 'primary', org: `${P}:account:7` },
      { u: `${P}:user:4026`, role: 'student', role_type: 'primary', org: `${P}:account:8` },
      { u: `${P}:user:4027`, role: 'student', role_type: 'primary', org: `${P}:account:8` },
      { u: `${P}:user:90071992547409931`, role: 'student', role_type: 'primary', org: `${P}:account:7` },
    ]);
    const enrollments = await q(sql<{ id: string }>`select sourced_id as id, class_sourced_id as class, user_sourced_id as user, school_sourced_id as school, role, "primary",
      begin_date::text as begin, end_date::text as end, metadata, native_key from enrollment order by sourced_id`);
    const e = (course: string, user: string, role: string) => `${P}:enrollment:${course}-${user}-${role}`;
    expect(enrollments).toEqual([
      // Two sections of one course: one enrollment in course mode.
      { id: e('370663', '4021', 'student'), class: `${P}:course:370663`, user: `${P}:user:4021`, school: `${P}:account:7`, role: 'student', primary: null, begin: null, end: null, metadata: null, native_key: '98001,98002' },
      { id: e('370663', '4022', 'teacher'), class: `${P}:course:370663`, user: `${P}:user:4022`, school: `${P}:account:7`, role: 'teacher', primary: true, begin: null, end: null, metadata: null, native_key: '98003' },
      // A TA teaches, but is not the primary teacher.
      expect.objectContaining({ id: e('370663', '4023', 'teacher'), role: 'teacher', primary: false, metadata: null }),
      expect.objectContaining({ id: e('370663', '90071992547409931', 'student'), metadata: { lmsState: 'creation_pending' } }),
      expect.objectContaining({ id: e('370664', '4021', 'student'), metadata: { lmsState: 'inactive' } }),
      expect.objectContaining({ id: e('370664', '4022', 'teacher'), begin: expect.stringMatching(/^\d{4}-\d\d-\d\d$/), end: expect.stringMatching(/^\d{4}-\d\d-\d\d$/) }),
      expect.objectContaining({ id: e('370665', '4022', 'teacher'), metadata: { lmsState: 'completed' } }),
      expect.objectContaining({ id: e('370665', '4026', 'student'), school: `${P}:account:8`, metadata: { lmsState: 'completed' } }),
      expect.objectContaining({ id: e('370665', '4027', 'student'), metadata: { lmsState: 'completed' } }),
      expect.objectContaining({ id: e('370666', '4022', 'teacher'), school: `${P}:account:1` }),
    ]);
    // Observers and designers have no enrollment; deleted and rejected ones never stored are no rows.
    expect(enrollments.map((r) => r.id)).not.toContain(e('370663', '4024', 'student'));
    const found = await issues(run.runId);
    expect(found).toEqual([expect.objectContaining({ entity: 'user', code: 'not_rostered', severity: 'warning', message: expect.stringMatching(/^2 Canvas users/) })]);
  });

  test('an unchanged re-sync writes zero rows; an enrollment deleted in Canvas becomes tobedeleted', async () => {
    await register();
    await sync();
    const again = (await sync())!;
    expect(again.status).toBe('succeeded');
    expect(written(again.counts)).toBe(0);
    fake.world.enrollments.find((x) => x.id === '98003')!.enrollment_state = 'deleted';
    const third = (await sync())!;
    expect(third.counts.enrollment).toMatchObject({ tombstoned: 1 });
    expect(await active('enrollment')).not.toContain(`${P}:enrollment:370663-4022-teacher`);
  });

  test('section mode: each section is a class, and enrollments follow their section', async () => {
    await register({ classUnit: 'section' });
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(await q(sql`select sourced_id, title, class_code, course_sourced_id, school_sourced_id from class where sourced_id like ${`${P}:section:552%`} and sourced_id < ${`${P}:section:5523`} order by 1`)).toEqual([
      { sourced_id: `${P}:section:5521`, title: 'Period 1', class_code: 'ALG1-F-01', course_sourced_id: `${P}:course:370663`, school_sourced_id: `${P}:account:7` },
      { sourced_id: `${P}:section:5522`, title: 'Period 2', class_code: 'ALG1-F-02', course_sourced_id: `${P}:course:370663`, school_sourced_id: `${P}:account:7` },
    ]);
    const student = await q(sql<{ class: string }>`select class_sourced_id as class from enrollment where user_sourced_id = ${`${P}:user:4021`} order by 1`);
    expect(student.map((r) => r.class)).toEqual([`${P}:section:5521`, `${P}:section:5522`, `${P}:section:5523`]);
    expect(fake.requests.some((r) => r.startsWith('/api/v1/courses/370663/sections'))).toBe(true);
  });

  test('names, dates and org types from the mapper alone', () => {
    expect(namesOf({ name: 'Jordan Avery Lee', sortable_name: 'Lee, Jordan Avery' })).toEqual({ givenName: 'Jordan Avery', familyName: 'Lee' });
    expect(namesOf({ name: 'Ana María de la Cruz' })).toEqual({ givenName: 'Ana María de la', familyName: 'Cruz' });
    expect(namesOf({ name: 'X', first_name: 'Given', last_name: null })).toEqual({ givenName: 'Given', familyName: '' });
    const mapper = new CanvasMapper({
      idPrefix: 'c', rootOrgType: 'state', schoolDepth: 2, orgTypes: { '5': 'local' }, classUnit: 'course',
      termDefaults: { startDate: '2026-07-01', endDate: '2027-06-30' }, timeZone: 'America/Los_Angeles',
    });
    // Offsets and fractions are read; the date is the district's calendar day.
    expect(mapper.date('2026-09-01T06:30:00Z')).toBe('2026-08-31');
    expect(mapper.date('2026-09-01T00:30:00.123-07:00')).toBe('2026-09-01');
    expect(mapper.date('not a date')).toBeUndefined();
    const orgs = mapper.orgs([
      { id: '1', name: 'State', parent_account_id: null },
      { id: '2', name: 'Region', parent_account_id: '1' },
      { id: '3', name: 'School', parent_account_id: '2' },
      { id: '4', name: 'Dept', parent_account_id: '3' },
      { id: '5', name: 'Override', parent_account_id: '1' },
      { id: '6', name: 'Closed', parent_account_id: '1', workflow_state: 'deleted' },
    ], '1');
    expect(orgs.map((o) => ('type' in o ? o.type : o.status))).toEqual(['state', 'district', 'school', 'department', 'local', 'tobedeleted']);
    expect(mapper.schoolOf('4')).toBe('c:account:3');
    // One open end filled from the defaults never ends before it starts.
    expect(mapper.session({ id: '9', name: 'Summer', start_at: '2027-07-15T07:00:00Z', end_at: null })).toMatchObject({ startDate: '2027-07-15', endDate: '2027-07-15', schoolYear: '2027' });
  });

  test('a Canvas object without the fields the mapping needs is reported and left out; the rest goes on', async () => {
    fake.world.users.push({ id: '5000', name: undefined as unknown as string, login_id: 'broken' });
    fake.world.enrollments.push({ id: '98100', course_id: '370663', course_section_id: '5521', user_id: '5000', type: 'StudentEnrollment', enrollment_state: 'active' });
    await register();
    const run = (await sync())!;
    expect(run.status).toBe('succeeded');
    const found = await issues(run.runId);
    expect(found).toContainEqual(expect.objectContaining({ entity: 'user', sourcedId: '5000', field: 'name', code: 'invalid_canvas_object', severity: 'error' }));
    // The enrollment of the user left out cannot resolve; it is rejected by the engine, not dropped silently.
    expect(found).toContainEqual(expect.objectContaining({ entity: 'enrollment', code: 'unresolved_reference', field: 'userSourcedId' }));
    expect(await active('user')).toContain(`${P}:user:4021`);
  });
});

describe('Canvas REST behaviour', () => {
  test('asks for string ids, per_page=100 and every enrollment state; follows rel=next across 3+ pages without rel=last', async () => {
    await register();
    await sync();
    const users = fake.requests.filter((r) => r.startsWith('/api/v1/accounts/1/users'));
    expect(users.length).toBeGreaterThanOrEqual(5);
    expect(users[0]).toContain('per_page=100');
    expect(users[0]).toContain('include%5B%5D=email');
    const courses = fake.requests.filter((r) => r.startsWith('/api/v1/accounts/1/courses'));
    expect(courses.length).toBe(3);
    const enrollments = fake.requests.filter((r) => r.startsWith('/api/v1/courses/370663/enrollments'));
    expect(enrollments.length).toBe(4);
    expect(enrollments[1]).toContain('page=bookmark%3A');
    for (const state of ['active', 'invited', 'creation_pending', 'completed', 'inactive', 'deleted', 'rejected']) expect(enrollments[0]).toContain(`state%5B%5D=${state}`);
    expect(fake.requests.find((r) => r.includes('/terms'))).toContain('workflow_state%5B%5D=all');
  });

  test('ids above 2^53 stay exact even when Canvas ignores the string-ids header and sends JSON numbers', async () => {
    fake = new FakeCanvas(BASE, smallCanvas(), { numericIds: true });
    server.use(...fake.handlers());
    await register();
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(await active('user')).toContain(`${P}:user:90071992547409931`);
    expect(await active('enrollment')).toContain(`${P}:enrollment:370663-90071992547409931-student`);
    // Same ids as with strings: switching costs no rewrite.
    fake = new FakeCanvas(BASE, smallCanvas());
    server.use(...fake.handlers());
    expect(written((await sync())!.counts)).toBe(0);
  });

  test('throttling: 403 Rate Limit Exceeded and 429 are waited out; a low X-Rate-Limit-Remaining slows the client down', async () => {
    server.use(
      http.get(`${BASE}/api/v1/accounts/1/users`, () => new HttpResponse('403 Forbidden (Rate Limit Exceeded)\n', { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-rate-limit-remaining': '0.0' } }), { once: true }),
      http.get(`${BASE}/api/v1/courses/370664/enrollments`, () => new HttpResponse('Too Many Requests', { status: 429, headers: { 'retry-after': '3' } }), { once: true }),
    );
    await register();
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(waits.some((w) => w >= 3000)).toBe(true);
    expect(await active('user')).toHaveLength(7);

      let budget = 600;
    fake.options.remaining = () => (budget -= 60);
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    // Once the budget is low every request waits first.
    expect(waits.length).toBeGreaterThan(5);
  });

  test('a 5xx burst with HTML bodies is retried; a 200 that is not JSON ends the run incomplete, tombstoning nothing', async () => {
    let failures = 0;
    server.use(http.get(`${BASE}/api/v1/courses/370663/enrollments`, () => (++failures <= 3
      ? new HttpResponse('<html><body><h1>502 Bad Gateway</h1></body></html>', { status: failures === 2 ? 503 : 502, headers: { 'content-type': 'text/html' } })
      : undefined)));
    await register();
    expect(await sync()).toMatchObject({ status: 'succeeded', complete: true });
    expect(failures).toBeGreaterThan(3);

    fake.world.users = fake.world.users.filter((u) => u.id !== '4027');
    server.use(http.get(`${BASE}/api/v1/accounts/1/users`, () => new HttpResponse('<html>Canvas is down for maintenance</html>', { headers: { 'content-type': 'text/html' } })));
    const broken = (await sync())!;
    expect(broken).toMatchObject({ status: 'partial', complete: false });
    expect(broken.error).toMatch(/not JSON/);
    expect(written(broken.counts)).toBe(0);
    expect(await active('user')).toContain(`${P}:user:4027`);
  });

  test('a next link to another host is refused: the token stays home and nothing is tombstoned', async () => {
    await register();
    await sync();
    let stolen = false;
    server.use(
      http.get(`${BASE}/api/v1/accounts/1/users`, () => HttpResponse.json([{ id: '4021', name: 'Jordan Avery Lee' }], { headers: { link: '<https://evil.example/api/v1/accounts/1/users?page=2>; rel="next"' } })),
      http.get('https://evil.example/*', () => {
        stolen = true;
        return HttpResponse.json([]);
      }),
    );
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'partial', complete: false });
    expect(run.error).toMatch(/refusing to send credentials to https:\/\/evil\.example/);
    expect(stolen).toBe(false);
    expect(run.counts.user!.tombstoned).toBe(0);
  });

  test('403 "user not authorized" on one course: that scope is skipped with an issue, the run succeeds, nothing depending on it is tombstoned', async () => {
    await register();
    await sync();
    fake.world.enrollments = fake.world.enrollments.filter((x) => x.user_id !== '4027');
    server.use(http.get(`${BASE}/api/v1/courses/370665/enrollments`, () =>
      HttpResponse.json({ status: 'unauthorized', errors: [{ message: 'user not authorized to perform that action' }] }, { status: 403 })));
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    const found = await issues(run.runId);
    expect(found).toContainEqual(expect.objectContaining({ entity: 'enrollment', code: 'scope_skipped', severity: 'warning', message: expect.stringContaining('enrollments of course 370665') }));
    // Users and enrollments were not listed completely: 4027 (gone from the course that was readable) stays.
    expect(run.counts.user!.tombstoned).toBe(0);
    expect(run.counts.enrollment!.tombstoned).toBe(0);
    const [row] = await q(sql<{ scope: string[] }>`select bulk_scope as scope from sync_run where id = ${run.runId}`);
    expect(row!.scope.sort()).toEqual(['academicSession', 'class', 'course', 'org']);
    // The same refusal as 401 without WWW-Authenticate (older Canvas) is a permission answer too.
    server.use(http.get(`${BASE}/api/v1/courses/370665/enrollments`, () =>
      HttpResponse.json({ status: 'unauthorized', errors: [{ message: 'user not authorized to perform that action' }] }, { status: 401 })));
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect((await getSource(deps(), 'canvas'))!.state).toBe('ok');
  });

  test('sub-accounts refused: the account is skipped with an issue, its courses land at the synced account, orgs are not tombstoned', async () => {
    await register();
    await sync();
    server.use(http.get(`${BASE}/api/v1/accounts/1/sub_accounts`, () =>
      HttpResponse.json({ status: 'unauthorized', errors: [{ message: 'user not authorized to perform that action' }] }, { status: 403 })));
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(run.runId)).toContainEqual(expect.objectContaining({ entity: 'org', code: 'scope_skipped', message: expect.stringContaining('sub-accounts of account 1') }));
    expect(await active('org')).toHaveLength(4);
    expect(run.counts.org!.tombstoned).toBe(0);
    const [algebra] = await q(sql<{ school: string }>`select school_sourced_id as school from class where sourced_id = ${`${P}:course:370663`}`);
    expect(algebra!.school).toBe(`${P}:account:1`);
    const [row] = await q(sql<{ scope: string[] }>`select bulk_scope as scope from sync_run where id = ${run.runId}`);
    expect(row!.scope).toEqual(['academicSession']);
  });

  test('terms refused: the terms of the synced courses stand in, and sessions are not tombstoned', async () => {
    server.use(http.get(`${BASE}/api/v1/accounts/1/terms`, () =>
      HttpResponse.json({ status: 'unauthorized', errors: [{ message: 'user not authorized to perform that action' }] }, { status: 403 })));
    await register();
    const run = (await sync())!;
    expect(run.status).toBe('succeeded');
    expect(await active('academic_session')).toEqual([`${P}:term:1`, `${P}:term:11`, `${P}:term:12`]);
    expect(await active('class')).toHaveLength(4);
  });
});

describe('Canvas gradebook', () => {
  const g = (kind: string, id: string) => `${P}:${kind}:${id}`;

  test('assignment groups, assignments and submissions become categories, lineItems and results, field by field', async () => {
    await register({ gradebook: true });
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(run.runId)).not.toContainEqual(expect.objectContaining({ severity: 'error' }));
    expect(await q(sql`select sourced_id, title, weight from category order by sourced_id`)).toEqual([
      { sourced_id: g('assignmentGroup', '301'), title: 'Homework', weight: 0.4 },
      { sourced_id: g('assignmentGroup', '302'), title: 'Tests', weight: 0.6 },
    ]);
    const items = await q(sql`select sourced_id, title, description, to_char(assign_date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as assign, to_char(due_date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as due,
      class_sourced_id, school_sourced_id, category_sourced_id, academic_session_sourced_id, result_value_min, result_value_max from line_item order by sourced_id`);
    expect(items).toEqual([
      { sourced_id: g('assignment', '9001'), title: 'Linear equations', description: 'Problems 1–20, odd only', assign: '2024-09-02T13:00:00', due: '2024-09-09T04:59:59',
        class_sourced_id: g('course', '370663'), school_sourced_id: g('account', '7'), category_sourced_id: g('assignmentGroup', '301'),
        academic_session_sourced_id: g('term', '12'), result_value_min: 0, result_value_max: 20 },
      // No unlock date: assigned when created. The unpublished draft is not a lineItem.
      expect.objectContaining({ sourced_id: g('assignment', '9002'), assign: '2024-09-01T13:00:00', due: '2024-09-20T15:00:00', result_value_max: 100 }),
    ]);
    const results = await q(sql`select sourced_id, line_item_sourced_id as li, student_sourced_id as student, score_status, score, text_score, score_date::text, late, missing
      from result order by sourced_id`);
    expect(results).toEqual([
      // Graded late: the date it was graded, in the district's zone.
      { sourced_id: g('submission', '71001'), li: g('assignment', '9001'), student: g('user', '4021'), score_status: 'fully graded', score: 18, text_score: '18', score_date: '2024-09-11', late: true, missing: false },
      // Missing and never handed in: "not submitted" on the due date (Chicago: the evening before 04:59 UTC).
      { sourced_id: g('submission', '71002'), li: g('assignment', '9001'), student: g('user', '90071992547409931'), score_status: 'not submitted', score: null, text_score: null, score_date: '2024-09-08', late: false, missing: true },
      // Excused: exempt.
      expect.objectContaining({ sourced_id: g('submission', '71003'), score_status: 'exempt', score_date: '2024-09-20' }),
    ]);
    const again = (await sync())!;
    expect(written(again.counts)).toBe(0);
  });

  test('an assignment unpublished in Canvas, and its results, are tombstoned by the next full run', async () => {
    await register({ gradebook: true });
    await sync();
    fake.world.assignments!.find((a) => a.id === '9001')!.published = false;
    const run = (await sync())!;
    expect(run.counts.lineItem).toMatchObject({ tombstoned: 1 });
    expect(run.counts.result).toMatchObject({ tombstoned: 2 });
    expect(await active('line_item')).toEqual([g('assignment', '9002')]);
  });

  test('off by default; section mode says it cannot; a refused listing skips the gradebook and tombstones none of it', async () => {
    const view = await register();
    await sync();
    expect(fake.requests.some((r) => r.includes('/assignments'))).toBe(false);
    expect(await active('line_item')).toEqual([]);
    const change = (extra: Record<string, unknown>) => saveSource(deps(), { name: 'canvas', kind: 'canvas', settings: { ...settings, ...extra } }, view.id);

    await change({ gradebook: true, classUnit: 'section' });
    const sections = (await sync())!;
    expect(await issues(sections.runId)).toContainEqual(expect.objectContaining({ code: 'gradebook_needs_course_mode', severity: 'warning' }));
    expect(await active('line_item')).toEqual([]);

    await change({ gradebook: true });
    await sync();
    expect(await active('line_item')).toHaveLength(2);
    fake.world.assignments = fake.world.assignments!.filter((a) => a.id !== '9002');
    server.use(http.get(`${BASE}/api/v1/courses/370663/students/submissions`, () =>
      HttpResponse.json({ status: 'unauthorized', errors: [{ message: 'user not authorized to perform that action' }] }, { status: 403 })));
    const refused = (await sync())!;
    expect(await issues(refused.runId)).toContainEqual(expect.objectContaining({ code: 'scope_skipped', message: expect.stringContaining('submissions of course 370663') }));
    expect(refused.counts.lineItem!.tombstoned).toBe(0);
    expect(refused.counts.result!.tombstoned).toBe(0);
    expect(await active('result')).toHaveLength(3);
  });
});

describe('Canvas credentials', () => {
  test('an expired token (401 + WWW-Authenticate) puts the source in the reauthorize state; new credentials clear it', async () => {
    const view = await register({ accessToken: 'expired-token' }, '0 3 * * *');
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'failed' });
    expect(run.error).toMatch(/could not start: Canvas refused the access token/);
    const source = (await getSource(deps(), 'canvas'))!;
    expect(source).toMatchObject({ state: 'reauthorize', stateReason: expect.stringMatching(/new token/) });
    // Scheduled runs wait for a person.
    const scheduler = new Scheduler(deps());
    await scheduler.reload();
    expect(scheduler.scheduled()).toEqual([]);
    await scheduler.stop();
    await saveSource(deps(), { name: 'canvas', kind: 'canvas', settings: { ...settings }, schedule: '0 3 * * *' }, view.id);
    expect((await getSource(deps(), 'canvas'))!.state).toBe('ok');
    expect(await sync()).toMatchObject({ status: 'succeeded' });
  });

  test('OAuth: the access token is refreshed once on 401; a refused refresh token means reauthorize', async () => {
    fake = new FakeCanvas(BASE, smallCanvas(), { tokens: [], oauth: { clientId: '10000000000042', clientSecret: 'dev-key-secret', refreshTokens: ['rt-good'] } });
    server.use(...fake.handlers());
    const oauth = { baseUrl: BASE, accountId: '1', clientId: '10000000000042', clientSecret: 'dev-key-secret', refreshToken: 'rt-good' };
    const view = await saveSource(deps(), { name: 'canvas', kind: 'canvas', settings: oauth });
    expect(JSON.stringify(view)).not.toContain('rt-good');
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    const grants = () => fake.requests.filter((r) => r === '/login/oauth2/token').length;
    expect(grants()).toBe(1);
    // Canvas revokes the access token mid-run: one refresh, and the run goes on.
    let revoked = false;
    server.use(http.get(`${BASE}/api/v1/accounts/1/users`, () => {
      if (!revoked) {
        revoked = true;
        fake.tokens.clear();
      }
      return undefined;
    }));
    // The access token of the first run is kept (sealed) for the next; revoked, it is refreshed once.
    expect(await sync()).toMatchObject({ status: 'succeeded', complete: true });
    expect(grants()).toBe(2);
    // The developer key's refresh token is revoked: the run stops and the source needs a person.
    fake.refreshTokens.clear();
    revoked = false;
    const run = (await sync())!;
    expect(run.status).toMatch(/partial|failed/);
    expect((await getSource(deps(), 'canvas'))!).toMatchObject({ state: 'reauthorize', stateReason: expect.stringMatching(/authorise the source again/) });
    expect(run.counts.user?.tombstoned ?? 0).toBe(0);
  });

  test('a refresh token the server rotates is sealed into the source before it is relied on', async () => {
    fake = new FakeCanvas(BASE, smallCanvas(), { tokens: [], oauth: { clientId: 'k', clientSecret: 's', refreshTokens: ['rt-1'], rotate: true } });
    server.use(...fake.handlers());
    await saveSource(deps(), { name: 'canvas', kind: 'canvas', settings: { baseUrl: BASE, accountId: '1', clientId: 'k', clientSecret: 's', refreshToken: 'rt-1' } });
    expect(await testSource(deps(), 'canvas')).toBe('account 1 "Lakeside Unified" is readable');
    const sealed = () => sealedSecrets('canvas');
    expect((await sealed()).refreshToken).toBe('rt-rotated-1');
    // The run uses the access token the test got; once Canvas refuses it, a refresh spends rt-rotated-1.
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    fake.tokens.clear();
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect((await sealed()).refreshToken).toBe('rt-rotated-2');
    expect(await getSource(deps(), 'canvas')).toMatchObject({ secretsSet: ['clientSecret', 'refreshToken'] });
  });

  test('settings are checked: http only on this machine, one kind of credentials, account ids', async () => {
    await expect(register({ baseUrl: 'http://canvas.example.edu' })).rejects.toThrow(/https/);
    await expect(register({ clientId: 'x' })).rejects.toThrow(/either accessToken or/);
    await expect(saveSource(deps(), { name: 'c', kind: 'canvas', settings: { baseUrl: BASE, clientId: 'x', clientSecret: 'y' } })).rejects.toThrow(/all of clientId/);
    await expect(register({ accountId: 'root' })).rejects.toThrow(/account id/);
  });
});

describe('Canvas runs', () => {
  test('incremental runs between full ones: only courses of running terms, no tombstones, roles from earlier runs kept', async () => {
    await register();
    expect(await sync('schedule')).toMatchObject({ status: 'succeeded' });
    fake.requests.length = 0;
    fake.world.users = fake.world.users.filter((u) => u.id !== '4027');
    const run = (await sync('schedule'))!;
    expect(run.status).toBe('succeeded');
    const courseListings = fake.requests.filter((r) => r.startsWith('/api/v1/accounts/1/courses'));
    expect(courseListings.every((r) => /enrollment_term_id=(12|1)(&|$)/.test(r))).toBe(true);
    expect(fake.requests.some((r) => r.startsWith('/api/v1/courses/370665/'))).toBe(false);
    const [row] = await q(sql<{ scope: string[] }>`select bulk_scope as scope from sync_run where id = ${run.runId}`);
    expect(row!.scope.sort()).toEqual(['academicSession', 'org']);
    // 4026's only role comes from last spring's course, which this run did not read: kept, not rewritten.
    expect(run.counts.user).toMatchObject({ updated: 0, tombstoned: 0 });
    expect(await active('user')).toContain(`${P}:user:4027`);
    // A manual run is a full one.
    const full = (await sync('manual'))!;
    expect(full.counts.user!.tombstoned).toBe(1);
    expect(await active('user')).not.toContain(`${P}:user:4027`);
  });

  test('end to end: scheduled → synced → served by the OneRoster API → a user removed in Canvas is tobedeleted after the next complete run', async () => {
    const get = await oneRosterReader(db.orm);
    await register({}, '* * * * * *');
    await withScheduler(deps(), async () => {
      await scheduledRuns(db, 1);
      const users = await get(`/users?filter=${encodeURIComponent("username='rchen'")}`);
      expect(users.users).toEqual([expect.objectContaining({ sourcedId: `${P}:user:4027`, status: 'active', givenName: 'Riley', familyName: 'Chen', roles: [expect.objectContaining({ role: 'student' })] })]);
      const klass = await get(`/classes/${encodeURIComponent(`${P}:course:370663`)}/students`);
      expect(klass.users.map((u: { sourcedId: string }) => u.sourcedId).sort()).toEqual([`${P}:user:4021`, `${P}:user:90071992547409931`]);

      // Riley leaves the district: gone from Canvas's user list, enrollments deleted.
      fake.world.users = fake.world.users.filter((u) => u.id !== '4027');
      for (const x of fake.world.enrollments) if (x.user_id === '4027') x.enrollment_state = 'deleted';
      await scheduledRuns(db, 2);
    });
    // The scheduled run after a full one is incremental: Riley stays until a complete listing.
    expect((await get(`/users/${encodeURIComponent(`${P}:user:4027`)}`)).user.status).toBe('active');
    await sync('manual');
    const gone = await get(`/users/${encodeURIComponent(`${P}:user:4027`)}`);
    expect(gone.user).toMatchObject({ sourcedId: `${P}:user:4027`, status: 'tobedeleted' });
  });
});
