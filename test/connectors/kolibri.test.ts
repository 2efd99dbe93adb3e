import { sql } from 'kysely';
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, test } from 'vitest';
import { kolibriConnector } from '../../connectors/kolibri/index.ts';
import { getRun } from '../../src/sync/runs.ts';
import { getSource, saveSource, syncSource, testSource } from '../../src/sync/sources.ts';
import { activeIds, oneRosterReader, scheduledRuns, useConnectorHarness, withScheduler, written } from '../support/connectors.ts';
import { bigKolibri, FakeKolibri, smallKolibri } from '../msw/kolibri.ts';

// A deployment behind a path prefix, on a school LAN.
const BASE = 'http://10.0.0.5:8080/kolibri/';
const P = 'kolibri:10.0.0.5:8080';
const F1 = '4a7fd5b1c0d24b0e9d1e6f3b2a9c8d71';
const C1 = 'c0ffee00c0ffee00c0ffee00c0ffee01';
const C2 = 'c0ffee00c0ffee00c0ffee00c0ffee02';
const JLEE = '9f1c2b3a4d5e6f708192a3b4c5d6e7f8';

const { server, db, waits, deps } = useConnectorHarness(kolibriConnector, './data/test-kolibri');
let fake: FakeKolibri;
beforeEach(() => {
  fake = new FakeKolibri(BASE, smallKolibri());
  server.use(...fake.handlers());
});

const settings = { baseUrl: BASE, username: 'sync-admin', password: 'correct horse battery', facilityId: F1, schoolYearStart: '2026-08-17', schoolYearEnd: '2027-06-11' };
const register = (extra: Record<string, unknown> = {}, schedule?: string) => saveSource(deps(), { name: 'kolibri', kind: 'kolibri', settings: { ...settings, ...extra }, schedule });
const sync = (trigger = 'manual') => syncSource(deps(), 'kolibri', trigger);
const q = <T,>(query: ReturnType<typeof sql<T>>) => db.query(query);
const active = (table: string) => activeIds(db, table);
const user = (id: string) => `${P}:user:${id}`;

describe('Kolibri mapping', () => {
  test('facilities, the school year, classrooms, users and enrollments, field by field', async () => {
    await register();
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(await q(sql`select sourced_id, name, type, parent_sourced_id from org order by type, sourced_id`)).toEqual([
      { sourced_id: `${P}:instance:district`, name: 'Kolibri (10.0.0.5:8080)', type: 'district', parent_sourced_id: null },
      // A facility admin reads only their facility.
      { sourced_id: `${P}:facility:${F1}`, name: 'North Facility Learning Center', type: 'school', parent_sourced_id: `${P}:instance:district` },
    ]);
    expect(await q(sql`select sourced_id, title, type, start_date::text, end_date::text, school_year from academic_session`)).toEqual([
      { sourced_id: `${P}:schoolYear:2027`, title: '2026-2027', type: 'schoolYear', start_date: '2026-08-17', end_date: '2027-06-11', school_year: '2027' },
    ]);
    expect(await q(sql`select sourced_id, title, course_sourced_id, school_sourced_id, term_sourced_ids from class order by sourced_id`)).toEqual([
      { sourced_id: `${P}:classroom:${C1}`, title: 'GED Math - Tue/Thu', course_sourced_id: `${P}:course:${C1}`, school_sourced_id: `${P}:facility:${F1}`, term_sourced_ids: [`${P}:schoolYear:2027`] },
      { sourced_id: `${P}:classroom:${C2}`, title: 'Reading Circle', course_sourced_id: `${P}:course:${C2}`, school_sourced_id: `${P}:facility:${F1}`, term_sourced_ids: [`${P}:schoolYear:2027`] },
    ]);
    expect(await q(sql`select sourced_id, title, org_sourced_id, school_year_sourced_id from course where sourced_id = ${`${P}:course:${C1}`}`)).toEqual([
      { sourced_id: `${P}:course:${C1}`, title: 'GED Math - Tue/Thu', org_sourced_id: `${P}:facility:${F1}`, school_year_sourced_id: `${P}:schoolYear:2027` },
    ]);
    const users = await q(sql`select sourced_id as id, username, given_name as given, family_name as family, identifier, user_ids, metadata from "user" order by username`);
    expect(users).toEqual([
      { id: user('2c3d4e5f60718293a4b5c6d7e8f90a1b'), username: 'acruz', given: 'Ana María de la', family: 'Cruz', identifier: null, user_ids: [{ type: 'kolibri', identifier: '2c3d4e5f60718293a4b5c6d7e8f90a1b' }], metadata: { fullName: '  Ana María   de la Cruz ' } },
      expect.objectContaining({ username: 'cher', given: 'Cher', family: '' }),
      expect.objectContaining({ id: user(JLEE), username: 'jlee123', given: 'Jordan Avery', family: 'Lee', identifier: 'DOC-123456', metadata: { fullName: 'Jordan Avery Lee' } }),
      expect.objectContaining({ username: 'mteacher', given: 'Morgan', family: 'Teacher' }),
      // No name at all: the username stands in.
      expect.objectContaining({ username: 'noname', given: 'noname', family: '' }),
      expect.objectContaining({ username: 'principal' }),
      expect.objectContaining({ username: 'sync-admin' }),
    ]);
    const roles = await q(sql`select u.username, r.role, r.role_type from user_role r join "user" u on u.sourced_id = r.user_sourced_id
      where r.org_sourced_id = ${`${P}:facility:${F1}`} order by u.username, r.role_type`);
    expect(roles).toEqual([
      { username: 'acruz', role: 'student', role_type: 'primary' },
      { username: 'cher', role: 'student', role_type: 'primary' },
      { username: 'jlee123', role: 'student', role_type: 'primary' },
      { username: 'mteacher', role: 'teacher', role_type: 'primary' },
      { username: 'noname', role: 'student', role_type: 'primary' },
      // A facility admin who also coaches a classroom: both roles, the admin one first.
      { username: 'principal', role: 'siteAdministrator', role_type: 'primary' },
      { username: 'principal', role: 'teacher', role_type: 'secondary' },
      { username: 'sync-admin', role: 'siteAdministrator', role_type: 'primary' },
    ]);
    const enrollments = await q(sql`select e.sourced_id as id, u.username, e.class_sourced_id as class, e.role, e."primary", e.metadata
      from enrollment e join "user" u on u.sourced_id = e.user_sourced_id order by e.class_sourced_id, u.username`);
    expect(enrollments).toEqual([
      { id: `${P}:enrollment:${C1}-2c3d4e5f60718293a4b5c6d7e8f90a1b-student`, username: 'acruz', class: `${P}:classroom:${C1}`, role: 'student', primary: null, metadata: null },
      expect.objectContaining({ username: 'cher', role: 'student' }),
      // Learner groups ride on the learner's enrollment.
      expect.objectContaining({ username: 'jlee123', role: 'student', metadata: { learnerGroups: ['Group A'] } }),
      // A coach role on the classroom; the facility-wide "classroom assignable coach" role alone makes no enrollment.
      { id: `${P}:enrollment:${C1}-1b2c3d4e5f60718293a4b5c6d7e8f901-teacher`, username: 'mteacher', class: `${P}:classroom:${C1}`, role: 'teacher', primary: true, metadata: null },
      expect.objectContaining({ username: 'principal', class: `${P}:classroom:${C2}`, role: 'teacher' }),
    ]);
    // Logged in once, logged out at the end with the CSRF token, everything under the path prefix.
    expect(fake.logouts).toBe(1);
    expect(fake.requests[0]).toBe('POST api/auth/session/');
    expect(fake.requests.filter((r) => r.startsWith('GET api/auth/facilityuser/'))[0]).toContain('page_size=500');
  });

  test('a superuser syncs every facility; an unchanged re-sync writes zero rows; a hard-deleted user is tombstoned', async () => {
    await register({ username: 'root', password: 'superuser-pw', facilityId: '5b8fe6c2d1e35c1f0e2f7a4c3b0d9e82' });
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect((await active('org')).length).toBe(3);
    expect(await active('class')).toHaveLength(3);
    const again = (await sync())!;
    expect(written(again.counts)).toBe(0);
    fake.world.users = fake.world.users.filter((u) => u.username !== 'cher');
    fake.world.memberships = fake.world.memberships.filter((m) => m.user !== '3d4e5f60718293a4b5c6d7e8f90a1b2c');
    const third = (await sync())!;
    expect(third.counts.user).toMatchObject({ tombstoned: 1 });
    expect(third.counts.enrollment).toMatchObject({ tombstoned: 1 });
    expect(await active('user')).not.toContain(user('3d4e5f60718293a4b5c6d7e8f90a1b2c'));
  });

  test('ids come back as 32 lowercase hex digits whatever form Kolibri sends them in', async () => {
    const hyphenated = (id: string) => `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`.toUpperCase();
    server.use(http.get(`${BASE}api/auth/membership/`, async ({ request }) => {
      const res = await fake.fetch(request);
      const body = (await res.json()) as { collection: string; user: string }[];
      return HttpResponse.json(body.map((m) => ({ ...m, collection: hyphenated(m.collection), user: hyphenated(m.user) })));
    }));
    await register({ facilityId: hyphenated(F1) });
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(await active('enrollment')).toContain(`${P}:enrollment:${C1}-${JLEE}-student`);
    await expect(register({ facilityId: 'north' })).rejects.toThrow(/32 hex/);
  });
});

describe('Kolibri sessions and failures', () => {
  test('the expired-session trap: a list that comes back 200 [] is re-read after a new login, and nothing is lost', async () => {
    await register();
    await sync();
    let expired = false;
    server.use(http.get(`${BASE}api/auth/classroom/`, () => {
      if (!expired) {
        expired = true;
        fake.expireSessions();
      }
      return undefined;
    }));
    const logins = () => fake.requests.filter((r) => r === 'POST api/auth/session/').length;
    const before = logins();
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(logins() - before).toBe(2);
    expect(written(run.counts)).toBe(0);
    expect(await active('class')).toHaveLength(2);
  });

  test('an empty list is never believed without a verified session: a session that will not stay alive ends the run, tombstoning nothing', async () => {
    await register();
    await sync();
    let checks = 0;
    server.use(http.get(`${BASE}api/auth/session/current/`, () => (++checks > 1 ? HttpResponse.json({ id: 'current', kind: ['anonymous'], user_id: null }) : undefined)));
    // The proxy in front of Kolibri drops cookies from now on: every list is empty.
    server.use(http.get(`${BASE}api/auth/classroom/`, () => HttpResponse.json([])), http.get(`${BASE}api/auth/facilityuser/`, () => HttpResponse.json([])));
    const run = (await sync())!;
    expect(run.status).toMatch(/partial|failed/);
    expect(run.error).toMatch(/does not keep the session/);
    expect(run.counts.user?.tombstoned ?? 0).toBe(0);
    expect(await active('user')).toHaveLength(7);
  });

  test('403 after an idle timeout logs in again; 503 (busy database) is retried', async () => {
    await register();
    server.use(
      http.get(`${BASE}api/auth/facilityuser/`, () => {
        fake.expireSessions();
        return HttpResponse.json([{ id: 'NOT_AUTHENTICATED', metadata: { view: 'Facility User' } }], { status: 403 });
      }, { once: true }),
    );
    let busy = 0;
    server.use(http.get(`${BASE}api/auth/membership/`, () => (++busy <= 2 ? new HttpResponse('<h1>Service Unavailable</h1>', { status: 503, headers: { 'content-type': 'text/html' } }) : undefined)));
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'succeeded', complete: true });
    expect(await active('user')).toHaveLength(7);
    expect(waits.length).toBeGreaterThanOrEqual(2);
  });

  test('paging: pages of 500 to total_pages; a page past the end (users changed) restarts the listing once, then gives up incomplete; an unpaged array is accepted', async () => {
    fake = new FakeKolibri(BASE, bigKolibri({ users: 1200, classrooms: 3, memberships: 30 }));
    server.use(...fake.handlers());
    await register({ password: 'pw', facilityId: fake.world.facilities[0]!.id });
    expect(await sync()).toMatchObject({ status: 'succeeded' });
    expect(fake.requests.filter((r) => r.startsWith('GET api/auth/facilityuser/'))).toHaveLength(3);
    expect(await active('user')).toHaveLength(1200);

    // A user deleted between page 1 and page 3: page 3 is past the new end.
    let gone = false;
    server.use(http.get(`${BASE}api/auth/facilityuser/`, ({ request }) => {
      if (gone || new URL(request.url).searchParams.get('page') !== '3') return undefined;
      gone = true;
      return HttpResponse.json([{ id: 'NOT_FOUND', metadata: { view: 'Facility User' } }], { status: 404 });
    }));
    fake.requests.length = 0;
    expect(await sync()).toMatchObject({ status: 'succeeded', complete: true });
    expect(gone).toBe(true);
    // Pages 1 and 2, then the whole listing again.
    expect(fake.requests.filter((r) => r.startsWith('GET api/auth/facilityuser/'))).toHaveLength(5);

    server.use(http.get(`${BASE}api/auth/facilityuser/`, ({ request }) =>
      new URL(request.url).searchParams.get('page') === '3' ? HttpResponse.json([{ id: 'NOT_FOUND', metadata: {} }], { status: 404 }) : undefined));
    const stuck = (await sync())!;
    expect(stuck).toMatchObject({ status: 'partial', complete: false });
    expect(stuck.error).toMatch(/kept changing/);
    expect(stuck.counts.user!.tombstoned).toBe(0);

    server.resetHandlers(...fake.handlers());
    server.use(http.get(`${BASE}api/auth/facilityuser/`, async ({ request }) => {
      const url = new URL(request.url);
      url.searchParams.delete('page_size');
      url.searchParams.delete('page');
      return fake.fetch(new Request(url, { headers: request.headers }));
    }));
    const unpaged = (await sync())!;
    expect(unpaged).toMatchObject({ status: 'succeeded', complete: true });
    expect(written(unpaged.counts)).toBe(0);
  });

  test('a refused password puts the source in the reauthorize state; a learner account cannot sync; the connection test says who it is', async () => {
    await register({ password: 'wrong' }, '0 3 * * *');
    const run = (await sync())!;
    expect(run).toMatchObject({ status: 'failed', error: expect.stringMatching(/INVALID_CREDENTIALS/) });
    expect((await getSource(deps(), 'kolibri'))!.state).toBe('reauthorize');
    const view = (await getSource(deps(), 'kolibri'))!;
    await saveSource(deps(), { name: 'kolibri', kind: 'kolibri', settings: { ...settings, username: 'jlee123', password: 'learner-pw' } }, view.id);
    const learner = (await sync())!;
    expect(learner).toMatchObject({ status: 'failed', error: expect.stringMatching(/must be a facility admin/) });
    expect((await getSource(deps(), 'kolibri'))!.state).toBe('ok');
    await saveSource(deps(), { name: 'kolibri', kind: 'kolibri', settings }, view.id);
    expect(await testSource(deps(), 'kolibri')).toBe('signed in as a facility admin; 1 facility readable');
    await saveSource(deps(), { name: 'kolibri', kind: 'kolibri', settings: { ...settings, facilityIds: ['5b8fe6c2d1e35c1f0e2f7a4c3b0d9e82'] } }, view.id);
    expect(await sync()).toMatchObject({ status: 'partial', error: expect.stringMatching(/not readable by the service account/) });
  });
});

describe('Kolibri end to end', () => {
  test('scheduled → synced → served by the OneRoster API', async () => {
    const get = await oneRosterReader(db.orm);
    await register({}, '* * * * * *');
    await withScheduler(deps(), () => scheduledRuns(db, 1));
    const [last] = await q(sql<{ id: number }>`select id::int as id from sync_run order by id desc limit 1`);
    expect((await getRun(db.orm, last!.id))!.status).toBe('succeeded');
    const students = await get(`/classes/${encodeURIComponent(`${P}:classroom:${C1}`)}/students`);
    expect(students.users.map((u: { username: string }) => u.username).sort()).toEqual(['acruz', 'cher', 'jlee123']);
    const teachers = await get(`/classes/${encodeURIComponent(`${P}:classroom:${C1}`)}/teachers`);
    expect(teachers.users).toEqual([expect.objectContaining({ username: 'mteacher', givenName: 'Morgan', familyName: 'Teacher' })]);
    const school = await get(`/schools/${encodeURIComponent(`${P}:facility:${F1}`)}`);
    expect(school.org).toMatchObject({ name: 'North Facility Learning Center', type: 'school', parent: { sourcedId: `${P}:instance:district` } });
  });
});
