import { sql } from 'kysely';
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, test } from 'vitest';
import { brightspaceConnector } from '../../connectors/brightspace/index.ts';
import { SourceBusyError } from '../../src/sync/reconcile.ts';
import { getRun } from '../../src/sync/runs.ts';
import { getSource, saveSource, syncSource, testSource } from '../../src/sync/sources.ts';
import { activeIds, oneRosterReader, scheduledRuns, useConnectorHarness, withScheduler, written } from '../support/connectors.ts';
import { FakeBrightspace, smallBrightspace } from '../msw/brightspace.ts';

const BASE = 'https://north.brightspace.com';
const P = 'brightspace:north.brightspace.com';

const { server, db, waits, deps, sealedSecrets } = useConnectorHarness(brightspaceConnector, './data/test-brightspace');
let fake: FakeBrightspace;
beforeEach(() => {
  fake = new FakeBrightspace(BASE, smallBrightspace());
  server.use(...fake.handlers());
});

const settings = () => ({ baseUrl: BASE, clientId: fake.client.id, clientSecret: fake.client.secret, refreshToken: fake.refreshToken, schoolYearStart: '2024-08-01', schoolYearEnd: '2025-06-30' });
const register = (extra: Record<string, unknown> = {}, schedule?: string) => saveSource(deps(), { name: 'd2l', kind: 'brightspace', settings: { ...settings(), ...extra }, schedule });
const sync = (trigger = 'manual') => syncSource(deps(), 'd2l', trigger);
const q = <T,>(query: ReturnType<typeof sql<T>>) => db.query(query);
const active = (table: string) => activeIds(db, table);
const issues = async (runId: number) => (await getRun(db.orm, runId, 1000))!.issueList;
const ou = (id: string) => `${P}:ou:${id}`;
const sealed = () => sealedSecrets('d2l');

describe('Brightspace mapping', () => {
  test('org structure: organization, departments, semesters, templates and offerings, field by field', async () => {
    await register();
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(await q(sql`select sourced_id, name, type, identifier, parent_sourced_id from org order by sourced_id`)).toEqual([
      { sourced_id: ou('6606'), name: 'Northwind Schools', type: 'district', identifier: null, parent_sourced_id: null },
      { sourced_id: ou('6650'), name: 'North Facility', type: 'school', identifier: 'FAC-NORTH', parent_sourced_id: ou('6606') },
      { sourced_id: ou('6651'), name: 'South Facility', type: 'school', identifier: 'FAC-SOUTH', parent_sourced_id: ou('6606') },
    ]);
    expect(await q(sql`select sourced_id, title, type, start_date::text, end_date::text, school_year from academic_session order by sourced_id`)).toEqual([
      // A semester spans its offerings' dates (read in the organization's zone); without any, the configured year.
      { sourced_id: ou('6700'), title: 'Fall 2024', type: 'semester', start_date: '2024-09-03', end_date: '2024-12-20', school_year: '2024' },
      { sourced_id: ou('6701'), title: 'Spring 2025', type: 'semester', start_date: '2024-08-01', end_date: '2025-06-30', school_year: '2025' },
      // Offerings without a semester belong to the school year.
      { sourced_id: `${P}:schoolYear:2025`, title: '2024-2025', type: 'schoolYear', start_date: '2024-08-01', end_date: '2025-06-30', school_year: '2025' },
    ]);
    expect(await q(sql`select sourced_id, title, course_code, org_sourced_id from course order by sourced_id`)).toEqual([
      { sourced_id: ou('123400'), title: 'GED Math Prep', course_code: 'GED-MATH', org_sourced_id: ou('6606') },
      { sourced_id: ou('123401'), title: 'English Foundations', course_code: 'ENG-F', org_sourced_id: ou('6606') },
    ]);
    expect(await q(sql`select sourced_id, title, class_code, course_sourced_id, school_sourced_id, term_sourced_ids, metadata from class order by sourced_id`)).toEqual([
      { sourced_id: ou('123457'), title: 'GED Math Prep (North) - Fall 2024', class_code: 'GED-MATH-2024F-N', course_sourced_id: ou('123400'), school_sourced_id: ou('6650'), term_sourced_ids: [ou('6700')], metadata: null },
      expect.objectContaining({ sourced_id: ou('123458'), school_sourced_id: ou('6651'), term_sourced_ids: [ou('6700')] }),
      expect.objectContaining({ sourced_id: ou('123459'), term_sourced_ids: [ou('6701')] }),
      { sourced_id: ou('123460'), title: 'Orientation', class_code: null, course_sourced_id: ou('123401'), school_sourced_id: ou('6606'), term_sourced_ids: [`${P}:schoolYear:2025`], metadata: { lmsActive: false } },
    ]);
  });

  test('users, roles and enrollments, field by field: roles mapped by name, inactive users kept', async () => {
    await register();
    const run = (await sync())!;
    expect(await q(sql`select sourced_id, username, given_name, middle_name, family_name, identifier, email, enabled_user, user_ids from "user" order by sourced_id`)).toEqual([
      { sourced_id: `${P}:user:40511`, username: 'jlee123', given_name: 'Jordan', middle_name: 'Avery', family_name: 'Lee', identifier: 'DOC-123456', email: 'jlee123@north.example.org', enabled_user: true,
        user_ids: [{ type: 'brightspace', identifier: '40511' }, { type: 'orgDefinedId', identifier: 'DOC-123456' }, { type: 'uniqueIdentifier', identifier: 'jlee123' }] },
      // Inactive in Brightspace: kept, not enabled.
      expect.objectContaining({ sourced_id: `${P}:user:40512`, username: 'mteacher', email: null, enabled_user: false }),
      expect.objectContaining({ sourced_id: `${P}:user:40513`, username: 'tassist' }),
      expect.objectContaining({ sourced_id: `${P}:user:40514`, username: 'rchen' }),
    ]);
    expect(await q(sql`select u.username, r.role, r.role_type, r.org_sourced_id as org from user_role r join "user" u on u.sourced_id = r.user_sourced_id order by u.username, r.role_type, r.org_sourced_id`)).toEqual([
      { username: 'jlee123', role: 'student', role_type: 'primary', org: ou('6650') },
      { username: 'jlee123', role: 'student', role_type: 'secondary', org: ou('6606') },
      { username: 'mteacher', role: 'teacher', role_type: 'primary', org: ou('6650') },
      { username: 'mteacher', role: 'teacher', role_type: 'secondary', org: ou('6651') },
      { username: 'rchen', role: 'student', role_type: 'primary', org: ou('6650') },
      { username: 'rchen', role: 'student', role_type: 'secondary', org: ou('6651') },
      { username: 'tassist', role: 'aide', role_type: 'primary', org: ou('6650') },
    ]);
    expect(await q(sql`select e.sourced_id as id, u.username, e.class_sourced_id as class, e.role, e."primary", e.school_sourced_id as school
      from enrollment e join "user" u on u.sourced_id = e.user_sourced_id where e.class_sourced_id = ${ou('123457')} order by u.username`)).toEqual([
      { id: `${P}:enrollment:123457-40511`, username: 'jlee123', class: ou('123457'), role: 'student', primary: null, school: ou('6650') },
      { id: `${P}:enrollment:123457-40512`, username: 'mteacher', class: ou('123457'), role: 'teacher', primary: true, school: ou('6650') },
      expect.objectContaining({ username: 'rchen', role: 'student' }),
      // A TA teaches, not as the primary teacher; the auditor's role is not mapped.
      expect.objectContaining({ username: 'tassist', role: 'teacher', primary: false }),
    ]);
    const found = await issues(run.runId);
    expect(found).toContainEqual(expect.objectContaining({ code: 'role_not_mapped', message: expect.stringContaining('Auditor (1)') }));
    expect(found).toContainEqual(expect.objectContaining({ code: 'not_rostered', message: expect.stringMatching(/^2 Brightspace users/) }));
  });

  test('sections as classes: learners in their sections, instructors in all; an offering without sections is its own class', async () => {
    await register({ sectionsAsClasses: true });
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect((await active('class')).filter((c) => c.includes(':section:'))).toEqual([`${P}:section:9001`, `${P}:section:9002`]);
    expect(await active('class')).toContain(ou('123458'));
    expect(await active('class')).not.toContain(ou('123457'));
    const rows = await q(sql<{ username: string; class: string }>`select u.username, e.class_sourced_id as class from enrollment e join "user" u on u.sourced_id = e.user_sourced_id
      where e.class_sourced_id like ${`${P}:section:%`} order by 1, 2`);
    expect(rows.map((r) => `${r.username}@${r.class.split(':').at(-1)}`)).toEqual(['jlee123@9001', 'mteacher@9001', 'mteacher@9002', 'rchen@9002', 'tassist@9001', 'tassist@9002']);
  });

  test('an unchanged re-sync writes zero rows; a user gone from Brightspace is tombstoned after the next complete run', async () => {
    await register();
    await sync();
    expect(written((await sync())!.counts)).toBe(0);
    fake.world.users = fake.world.users.filter((u) => u.UserId !== 40514);
    fake.world.enrollments = fake.world.enrollments.filter((e) => e.user !== '40514');
    const run = (await sync())!;
    expect(run.counts.user).toMatchObject({ tombstoned: 1 });
    expect(await active('user')).not.toContain(`${P}:user:40514`);
  });
});

describe('Brightspace OAuth', () => {
  test('refresh tokens rotate: the new one is sealed before use, the access token lasts across runs, a revoked one is refreshed once', async () => {
    await register();
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(fake.grants).toBe(1);
    expect((await sealed()).refreshToken).toBe(fake.refreshToken);
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(fake.grants).toBe(1);
    fake.accessTokens.clear();
    expect(await sync()).toMatchObject({ status: 'succeeded', complete: true });
    expect(fake.grants).toBe(2);
    expect((await sealed()).refreshToken).toBe(fake.refreshToken);
    expect(fake.reused).toBe(0);
    expect((await getSource(deps(), 'd2l'))!.secretsSet).toEqual(['clientSecret', 'refreshToken']);
  });

  test('the refresh race: two runs (two processes) at once refresh once, and the single-use token is never spent twice', async () => {
    await register();
    // Two processes: separate dependencies, one database.
    const [a, b] = await Promise.allSettled([syncSource(deps(), 'd2l', 'manual'), syncSource(deps(), 'd2l', 'schedule')]);
    expect(fake.grants).toBe(1);
    expect(fake.reused).toBe(0);
    const outcomes = [a, b].map((r) => (r.status === 'fulfilled' ? r.value!.status : r.reason instanceof SourceBusyError ? 'busy' : String(r.reason)));
    expect(outcomes.sort()).toEqual(['busy', 'succeeded']);
    // And the connection test at the same time as a run.
    fake.accessTokens.clear();
    await Promise.all([testSource(deps(), 'd2l'), testSource(deps(), 'd2l'), sync()]);
    expect(fake.grants).toBe(2);
    expect(fake.reused).toBe(0);
  });

  test('invalid_grant puts the source in the reauthorize state with a clear message; client credentials need no refresh token', async () => {
    await register({ refreshToken: 'rt-already-spent' }, '0 2 * * *');
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'failed' });
    expect((await getSource(deps(), 'd2l'))!).toMatchObject({ state: 'reauthorize', stateReason: expect.stringMatching(/refused the stored refresh token .*authorise the source again/) });
    expect(fake.reused).toBe(1);
    const view = (await getSource(deps(), 'd2l'))!;
    // Switching to client credentials: the refresh token is removed by sending it as null.
    await saveSource(deps(), { name: 'd2l', kind: 'brightspace', settings: { ...settings(), refreshToken: null, scope: 'core:*:*' } }, view.id);
    expect((await getSource(deps(), 'd2l'))!.secretsSet).toEqual(['clientSecret']);
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect((await getSource(deps(), 'd2l'))!.state).toBe('ok');
    expect(await testSource(deps(), 'd2l')).toBe('signed in to Brightspace as roster.sync');
  });
});

describe('Brightspace failures', () => {
  test('429 waits Retry-After; a budget that runs low waits for X-Rate-Limit-Reset; a 5xx burst is retried', async () => {
    let limited = 0;
    server.use(http.get(`${BASE}/d2l/api/lp/1.43/users/`, () => (++limited === 1 ? new HttpResponse(null, { status: 429, headers: { 'retry-after': '37' } }) : undefined)));
    let down = 0;
    server.use(http.get(`${BASE}/d2l/api/lp/1.43/courses/123458`, () => (++down <= 3 ? new HttpResponse('<html>502</html>', { status: 502 }) : undefined)));
    await register();
    expect(await sync()).toMatchObject({ status: 'succeeded', complete: true });
    expect(waits.some((w) => w >= 37_000)).toBe(true);
      fake.remaining = 150;
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(waits.filter((w) => w > 55_000).length).toBeGreaterThan(5);
  });

  test('a repeated bookmark is a loop: the run ends incomplete and tombstones nothing', async () => {
    await register();
    await sync();
    server.use(http.get(`${BASE}/d2l/api/lp/1.43/users/`, () => HttpResponse.json({ PagingInfo: { Bookmark: '40511', HasMoreItems: true }, Items: [{ UserId: 40511, UserName: 'jlee123', Activation: { IsActive: true } }] })));
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'partial', complete: false });
    expect(run.error).toMatch(/loops back/);
    expect(run.counts.user!.tombstoned).toBe(0);
    expect(await active('user')).toHaveLength(4);
  });

  test('an empty page that claims more is followed; empty pages without end make the listing incomplete', async () => {
    await register();
    await sync();
    let calls = 0;
    server.use(http.get(`${BASE}/d2l/api/lp/1.43/users/`, ({ request }) => {
      if (new URL(request.url).searchParams.get('bookmark') || ++calls > 1) return undefined;
      return HttpResponse.json({ PagingInfo: { Bookmark: '0', HasMoreItems: true }, Items: [] });
    }));
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(written(run.counts)).toBe(0);
    let n = 0;
    server.use(http.get(`${BASE}/d2l/api/lp/1.43/users/`, () => HttpResponse.json({ PagingInfo: { Bookmark: `b${++n}`, HasMoreItems: true }, Items: [] })));
    const stuck = (await sync())!;
    expect(stuck).toMatchObject({ status: 'partial', complete: false });
    expect(stuck.error).toMatch(/empty pages/);
    expect(stuck.counts.user!.tombstoned).toBe(0);
  });

  test('a missing scope (403 Problem Details) skips that listing with an issue; what depends on it is not tombstoned', async () => {
    await register();
    await sync();
    fake.world.enrollments = fake.world.enrollments.filter((e) => e.user !== '40514');
    fake.denied.add('enrollments/');
    fake.denied.add('roles/');
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    const found = await issues(run.runId);
    expect(found).toContainEqual(expect.objectContaining({ code: 'scope_skipped', entity: 'enrollment', message: expect.stringMatching(/enrollments of offering 123457.*403: Forbidden — Missing required scope/) }));
    expect(run.counts.user!.tombstoned).toBe(0);
    expect(run.counts.enrollment!.tombstoned).toBe(0);
    expect(await active('user')).toContain(`${P}:user:40514`);
    const [row] = await q(sql<{ scope: string[] }>`select bulk_scope as scope from sync_run where id = ${run.runId}`);
    expect(row!.scope.sort()).toEqual(['academicSession', 'course', 'org']);
  });

  test('ObjectListPage {Objects, Next} pages are followed too, and ids given as numbers or strings come out the same', async () => {
    await register();
    await sync();
    const users = smallBrightspace().users.map((u) => ({ UserId: String(u.UserId), UserName: u.UserName, FirstName: u.FirstName, MiddleName: u.MiddleName, LastName: u.LastName, ExternalEmail: u.ExternalEmail, OrgDefinedId: u.OrgDefinedId, UniqueIdentifier: u.UserName, Activation: { IsActive: u.active } }));
    server.use(http.get(`${BASE}/d2l/api/lp/1.43/users/`, ({ request }) => {
      const page = Number(new URL(request.url).searchParams.get('page') ?? 0);
      return HttpResponse.json({ Objects: users.slice(page * 2, page * 2 + 2), Next: page * 2 + 2 < users.length ? `${BASE}/d2l/api/lp/1.43/users/?page=${page + 1}` : null });
    }));
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(written(run.counts)).toBe(0);
  });

  test('settings: https only, a Learning Platform version, the roles vocabulary', async () => {
    await expect(register({ baseUrl: 'http://north.brightspace.com' })).rejects.toThrow(/https/);
    await expect(register({ lpVersion: 'latest' })).rejects.toThrow(/Learning Platform version/);
    await expect(register({ roles: { Learner: 'pupil' } })).rejects.toThrow(/roles/);
  });
});

describe('Brightspace end to end', () => {
  test('scheduled → synced → served by the OneRoster API', async () => {
    const get = await oneRosterReader(db.orm);
    await register({}, '* * * * * *');
    await withScheduler(deps(), () => scheduledRuns(db, 1));
    const students = await get(`/classes/${encodeURIComponent(ou('123457'))}/students`);
    expect(students.users.map((u: { username: string }) => u.username).sort()).toEqual(['jlee123', 'rchen']);
    const teachers = await get(`/classes/${encodeURIComponent(ou('123457'))}/teachers`);
    expect(teachers.users.map((u: { username: string }) => u.username).sort()).toEqual(['mteacher', 'tassist']);
    const term = await get(`/academicSessions/${encodeURIComponent(ou('6700'))}`);
    expect(term.academicSession).toMatchObject({ title: 'Fall 2024', type: 'semester', startDate: '2024-09-03', endDate: '2024-12-20' });
  });
});
