import { sql } from 'kysely';
import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { edfiConnector } from '../../connectors/edfi/index.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import type { EntityName } from '../../src/sync/records.ts';
import { getRun } from '../../src/sync/runs.ts';
import { getSource, saveSource, syncSource, testSource } from '../../src/sync/sources.ts';
import { activeIds, storedRows, useConnectorHarness, written } from '../support/connectors.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { accessToken, gatewayApp } from '../support/gateway.ts';
import { defaults } from '../support/roster.ts';
import { generateDistrict } from '../../bench/generate.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { edfiDistrict } from '../support/edfi-district.ts';
import { FakeEdfiApi, edfiId, edfiSample, type EdfiApiOptions } from '../msw/edfi.ts';

const { server, db, waits, deps } = useConnectorHarness(edfiConnector, './data/test-edfi-source');
const UPSTREAM = 'https://ods.example';
const ED = `${UPSTREAM}/data/v3/ed-fi`;
const ENTITIES: EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'demographics', 'enrollment'];

/** A second Rostergate, in a database of its own, loaded with a generated district through its Ed-Fi door. */
let upstream: { db: TestDatabase; app: ReturnType<typeof gatewayApp>; clientId: string; secret: string; token: string };

/** A write through the upstream's Ed-Fi door. */
async function edfi(method: string, path: string, body?: unknown) {
  const res = await upstream.app.request(path.startsWith('http') ? path : `${ED}${path}`, {
    method, headers: { authorization: `Bearer ${upstream.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}
const items = async (path: string) => (await (await edfi('GET', path)).json()) as Record<string, any>[];

beforeAll(async () => {
  const updb = await createTestDatabase({ contextName: 'upstream' });
  const app = gatewayApp(updb.orm, './data/test-edfi-upstream', 'u'.repeat(40));
  upstream = { db: updb, app, clientId: '', secret: '', token: '' };
  upstream.token = await accessToken(app, await createClient(updb.orm, { name: 'loader', scopes: [scopes.edfiWrite] }), UPSTREAM);
  for (const [resource, body] of edfiDistrict({ schools: 2, studentsPerSchool: 25, sectionsPerSchool: 4 })) await edfi('POST', `/${resource}`, body);
  const reader = await createClient(updb.orm, { name: 'downstream gateway', scopes: [scopes.edfiRead] });
  upstream.clientId = reader.clientId;
  upstream.secret = reader.secret;
}, 120_000);
afterAll(async () => {
  await upstream?.db.drop();
});

/** Requests the connector made of the upstream. */
const asked: string[] = [];
const toUpstream = () => http.all(`${UPSTREAM}/*`, ({ request }) => {
  const url = new URL(request.url);
  asked.push(`${request.method} ${url.pathname}${url.search}`);
  return upstream.app.request(request);
});
const register = (extra: Record<string, unknown> = {}, id?: number) =>
  saveSource(deps(), { name: 'ods', kind: 'edfi', settings: { baseUrl: UPSTREAM, clientId: upstream.clientId, clientSecret: upstream.secret, pageSize: 20, ...extra } }, id);
const issues = async (runId: number) => (await getRun(db.orm, runId, 1000))!.issueList;

/**
 * Every row of an entity, Ed-Fi key and attributes included; provenance (nativeKey) left out. A
 * tombstone is its id and status: what it held when it went is not compared (the door drops a
 * student's last role before the student; a deletion through change queries just tombstones).
 */
const store = (orm: TestDatabase['orm'], entity: EntityName) => storedRows(orm, entity, { omit: ['nativeKey'], tombstonesById: true });

const expectEqualStores = async () => {
  for (const entity of ENTITIES) expect(await store(db.orm, entity), entity).toEqual(await store(upstream.db.orm, entity));
};

describe('gateway to gateway', () => {
  test('a full pull makes the two stores equal; change queries bring a change, a key change and deletions and rewrite nothing else', { timeout: 120_000 }, async () => {
    server.use(toUpstream());
    const source = await register();
    expect(await testSource(deps(), 'ods')).toMatch(/^the Ed-Fi API answers; schools are readable; change version \d+$/);
    const first = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(first, first.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(first.runId)).toEqual([]);
    expect((await activeIds(db, 'enrollment')).length).toBe(2 * 25 * 2 + 2 * 4);
    await expectEqualStores();
    // The door offers partitions and cursors; the connector reads partitions, each by its cursor.
    expect(asked.filter((r) => r.startsWith('GET /data/v3/ed-fi/studentSectionAssociations'))).toEqual(expect.arrayContaining([
      'GET /data/v3/ed-fi/studentSectionAssociations/partitions?number=2', expect.stringMatching(/studentSectionAssociations\?pageToken=[\w-]+&pageSize=20$/),
    ]));

    // Upstream: a student renamed; a school association's entry date (part of its key) changed; a section's key changed (and with it its associations' keys); an enrollment deleted; a contact unlinked and deleted.
    const [student] = await items('/students?studentUniqueId=S10003');
    const { id: studentId, _etag, _lastModifiedDate, ...body } = student!;
    await edfi('PUT', `/students/${studentId}`, { ...body, firstName: 'Renamed' });
    const [section] = await items('/sections?sectionIdentifier=BIO-1-02');
    const { id: sectionId, _etag: _e2, _lastModifiedDate: _l2, ...sectionBody } = section!;
    await edfi('PUT', `/sections/${sectionId}`, { ...sectionBody, sectionIdentifier: 'BIO-1-02B', sectionName: 'Biology, moved' });
    const [enrollment] = await items('/studentSectionAssociations?studentUniqueId=S20004');
    await edfi('DELETE', `/studentSectionAssociations/${enrollment!.id}`);
    const [schoolLink] = await items('/studentSchoolAssociations?studentUniqueId=S20001');
    const { id: linkId, _etag: _e3, _lastModifiedDate: _l3, ...linkBody } = schoolLink!;
    await edfi('PUT', `/studentSchoolAssociations/${linkId}`, { ...linkBody, entryDate: '2024-08-26' });
    const [contactLink] = await items('/studentContactAssociations?studentUniqueId=S10001');
    await edfi('DELETE', `/studentContactAssociations/${contactLink!.id}`);
    const [contact] = await items('/contacts?contactUniqueId=CS10001');
    await edfi('DELETE', `/contacts/${contact!.id}`);

    const delta = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(delta, delta.error).toMatchObject({ status: 'succeeded' });
    expect(await issues(delta.runId)).toEqual([]);
    const { rows } = await sql<{ bulk_scope: string[] }>`select bulk_scope from sync_run where id = ${delta.runId}`.execute(db.orm.em.fork().getKysely());
    expect(rows[0]!.bulk_scope).toEqual([]);
    // The renamed student, the student whose school association changed key, the student who lost a contact and the contact; the section (same sourcedId, new key) and its
    // associations (new keys); the deleted enrollment.
    const moved = (await items(`/studentSectionAssociations?sectionIdentifier=BIO-1-02B`)).length + (await items(`/staffSectionAssociations?sectionIdentifier=BIO-1-02B`)).length;
    expect(moved).toBeGreaterThan(1);
    expect(delta.counts.user).toMatchObject({ updated: 3, created: 0, tombstoned: 1 });
    expect(delta.counts.class).toMatchObject({ updated: 1, created: 0, tombstoned: 0 });
    expect(delta.counts.enrollment).toMatchObject({ tombstoned: 1, created: 0, updated: moved });
    expect(written(delta.counts)).toBe(6 + moved);
    expect(asked.filter((r) => r.includes('/keyChanges?')).length).toBeGreaterThan(0);
    await expectEqualStores();

    const again = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(again, again.error).toMatchObject({ status: 'succeeded' });
    expect(written(again.counts)).toBe(0);

    // A student arrives (with a school, an organization and two sections) and another leaves (links first, then the student).
    const sectionRefs = (await items('/sections?schoolId=255901002')).slice(0, 2).map((x) => ({ ...x.courseOfferingReference, sectionIdentifier: x.sectionIdentifier }));
    await edfi('POST', '/students', { studentUniqueId: 'S29999', firstName: 'New', lastSurname: 'Arrival', birthDate: '2011-02-03' });
    await edfi('POST', '/studentSchoolAssociations', { schoolReference: { schoolId: 255901002 }, studentReference: { studentUniqueId: 'S29999' }, entryDate: '2024-09-02',
      entryGradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Ninth grade' });
    await edfi('POST', '/studentEducationOrganizationAssociations', { educationOrganizationReference: { educationOrganizationId: 255901 }, studentReference: { studentUniqueId: 'S29999' },
      races: [{ raceDescriptor: 'uri://ed-fi.org/RaceDescriptor#Asian' }] });
    for (const sectionReference of sectionRefs) {
      await edfi('POST', '/studentSectionAssociations', { beginDate: '2024-09-02', sectionReference, studentReference: { studentUniqueId: 'S29999' } });
    }
    const leaving = 'S20010';
    const leavingSections = await items(`/studentSectionAssociations?studentUniqueId=${leaving}`);
    for (const link of leavingSections) await edfi('DELETE', `/studentSectionAssociations/${link.id}`);
    for (const link of await items(`/studentEducationOrganizationAssociations?studentUniqueId=${leaving}`)) await edfi('DELETE', `/studentEducationOrganizationAssociations/${link.id}`);
    for (const link of await items(`/studentSchoolAssociations?studentUniqueId=${leaving}`)) await edfi('DELETE', `/studentSchoolAssociations/${link.id}`);
    const [gone] = await items(`/students?studentUniqueId=${leaving}`);
    await edfi('DELETE', `/students/${gone!.id}`);

    const moves = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(moves, moves.error).toMatchObject({ status: 'succeeded' });
    expect(await issues(moves.runId)).toEqual([]);
    expect(moves.counts.user).toMatchObject({ created: 1, tombstoned: 1, updated: 0 });
    expect(moves.counts.enrollment).toMatchObject({ created: 2, tombstoned: leavingSections.length, updated: 0 });
    expect(moves.counts.demographics).toMatchObject({ created: 1, tombstoned: 1 });
    await expectEqualStores();

    // More students' organization associations change than a page holds (20): read in one pass, not one query each.
    const changedRaces = (await items('/studentEducationOrganizationAssociations?limit=100')).slice(0, 30);
    for (const { id, _etag: _e, _lastModifiedDate: _l, ...body } of changedRaces) {
      await edfi('PUT', `/studentEducationOrganizationAssociations/${id}`, { ...body, races: [{ raceDescriptor: 'uri://ed-fi.org/RaceDescriptor#Black - African American' }] });
    }
    const before = asked.length;
    const races = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(races, races.error).toMatchObject({ status: 'succeeded' });
    expect(races.counts.demographics).toMatchObject({ updated: 30 });
    expect(written(races.counts)).toBe(30);
    expect(asked.slice(before).filter((r) => r.includes('studentEducationOrganizationAssociations?studentUniqueId='))).toEqual([]);
    await expectEqualStores();
    // A full run finds the same: the section that changed key keeps its sourcedId.
    await register({ fullSyncHours: 0 }, source.id);
    const full = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(full, full.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(Object.fromEntries(Object.entries(full.counts).filter(([, c]) => written({ c }) > 0))).toEqual({});
    expect(written(full.counts)).toBe(0);
  });
});

describe('parallel readers', () => {
  test('a listing read in partitions by four readers lands as read by one: the same rows, nothing rewritten', { timeout: 120_000 }, async () => {
    // A bigger upstream: the small generated district (950 students, 5,000+ enrollments) as its Ed-Fi door serves it.
    const big = await createTestDatabase({ contextName: 'big-upstream' });
    try {
      const app = gatewayApp(big.orm, './data/test-edfi-big', 'b'.repeat(40));
      expect((await reconcile(big.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: generateDistrict({ scale: 'small', batchSize: 1000 }) })).status).toBe('succeeded');
      const reader = await createClient(big.orm, { name: 'reader', scopes: [scopes.edfiRead] });
      const seen: string[] = [];
      server.use(http.all('https://big.example/*', ({ request }) => {
        const url = new URL(request.url);
        seen.push(`${url.pathname}${url.search}`);
        return app.request(request);
      }));
      const settings = { baseUrl: 'https://big.example', clientId: reader.clientId, clientSecret: reader.secret, pageSize: 200, readers: 4, fullSyncHours: 0 };
      const source = await saveSource(deps(), { name: 'big', kind: 'edfi', settings });
      const parallel = (await syncSource(deps(), 'big', 'manual'))!;
      expect(parallel, parallel.error).toMatchObject({ status: 'succeeded', complete: true });
      expect(await issues(parallel.runId)).toEqual([]);
      const tokens = seen.filter((r) => r.startsWith('/data/v3/ed-fi/studentSectionAssociations?pageToken='));
      expect(new Set(tokens.map((r) => JSON.parse(Buffer.from(/pageToken=([\w-]+)/.exec(r)![1]!, 'base64url').toString())[1])).size).toBe(4);
      expect(parallel.counts.enrollment!.created).toBeGreaterThan(5000);
      await saveSource(deps(), { name: 'big', kind: 'edfi', settings: { ...settings, readers: 1 } }, source.id);
      const single = (await syncSource(deps(), 'big', 'manual'))!;
      expect(single, single.error).toMatchObject({ status: 'succeeded', complete: true });
      expect(written(single.counts)).toBe(0);
    } finally {
      await big.drop();
    }
  });
});

describe('Ed-Fi APIs as they come', () => {
  const fake = (base: string, options: Partial<EdfiApiOptions> & Pick<EdfiApiOptions, 'style'>, data = edfiSample()) => {
    const api = new FakeEdfiApi(base, data, { clientId: 'key', clientSecret: 'secret', discovery: true, changeQueries: true, ...options });
    server.use(http.all(`${base}/*`, ({ request }) => api.fetch(request)));
    return api;
  };
  const add = (api: FakeEdfiApi, extra: Record<string, unknown> = {}, id?: number) =>
    saveSource(deps(), { name: 'ods', kind: 'edfi', settings: { baseUrl: api.base, clientId: 'key', clientSecret: 'secret', pageSize: 1, ...extra } }, id);
  const scopeOf = async (runId: number) =>
    (await db.query(sql<{ bulk_scope: string[] }>`select bulk_scope from sync_run where id = ${runId}`))[0]!.bulk_scope;

  test('DMS without a discovery document: URLs by style; the cursor is followed through an empty page until its header is absent', async () => {
    const data = edfiSample();
    const [first, second] = data.students!;
    data.students = [first!, { ...second!, id: edfiId('gone'), studentUniqueId: '1009', _deleted: true }, second!];
    const api = fake('https://dms.example', { style: 'dms', discovery: false, changeQueries: false }, data);
    await add(api, { style: 'dms' });
    const run = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(run.runId)).toEqual([]);
    expect(api.requests.filter((r) => r.includes('/students'))).toEqual([
      'GET /data/ed-fi/students?limit=1&offset=0&totalCount=true', 'GET /data/ed-fi/students?pageToken=1&pageSize=1', 'GET /data/ed-fi/students?pageToken=2&pageSize=1',
    ]);
    expect(api.requests.filter((r) => r.startsWith('POST'))).toEqual(['POST /connect/token']);
    expect(await activeIds(db, 'user')).toHaveLength(3);
    expect(await activeIds(db, 'enrollment')).toHaveLength(3);
    // Students get their grade from the school association, the teacher a role at the school.
    expect(await db.query(sql`select u.identifier, u.grades, r.role from "user" u join user_role r on r.user_sourced_id = u.sourced_id order by 1`)).toEqual([
      { identifier: '1001', grades: ['09'], role: 'student' }, { identifier: '1002', grades: ['10'], role: 'student' }, { identifier: 'T1', grades: null, role: 'teacher' },
    ]);
    // Without change queries every run is full.
    const next = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(await scopeOf(next.runId)).toContain('enrollment');
    expect(written(next.counts)).toBe(0);
  });

  test('ODS: Total-Count paging; 429 and 5xx are retried; an expired token is replaced once; refused credentials wait for a person', async () => {
    const api = fake('https://ods.example', { style: 'ods' });
    const source = await add(api);
    let calls = 0;
    server.use(http.get(`${api.dataRoot}/schools`, () => {
      calls++;
      if (calls === 1) return HttpResponse.json({ detail: 'Too many requests' }, { status: 429, headers: { 'retry-after': '3' } });
      if (calls === 2) return new HttpResponse('<html>Service Unavailable</html>', { status: 503 });
      return undefined;
    }));
    const run = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(waits).toContain(3000);
    // Total-Count 2 at a page size of 1: two pages, no third asked.
    expect(api.requests.filter((r) => r.includes('/students'))).toEqual(['GET /data/v3/ed-fi/students?limit=1&offset=0&totalCount=true', 'GET /data/v3/ed-fi/students?limit=1&offset=1']);
    expect((await getRun(db.orm, run.runId, 0))!.checkpoint).toEqual({ changeVersion: 10 });

    // Nothing changed since (newest is still 10): a scheduled run asks for no data at all.
    api.requests.length = 0;
    const quiet = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(quiet).toMatchObject({ status: 'succeeded' });
    expect(written(quiet.counts)).toBe(0);
    expect(api.requests.filter((r) => r.includes('/ed-fi/'))).toEqual([]);
    // Something changed (newest 12), but this API has no /deletes or /keyChanges: told, and the run goes on.
    api.versions = { oldestChangeVersion: 0, newestChangeVersion: 12 };
    const partial = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(partial, partial.error).toMatchObject({ status: 'succeeded' });
    expect(written(partial.counts)).toBe(0);
    expect(api.requests.some((r) => r.includes('minChangeVersion=11&maxChangeVersion=12'))).toBe(true);
    const unsupported = (await issues(partial.runId)).filter((i) => i.code === 'change_query_unsupported');
    expect(unsupported.length).toBeGreaterThan(10);
    expect(unsupported.map((i) => i.severity)).not.toContain('error');
    // The API dropped the changes since then (oldest is past the checkpoint): the next run is full.
    api.versions = { oldestChangeVersion: 50, newestChangeVersion: 60 };
    const resync = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(await scopeOf(resync.runId)).toContain('user');

    // The API forgets every token: the next request answers 401, the connector gets a new one.
    const tokenRequests = () => api.requests.filter((r) => r.startsWith('POST /oauth/token')).length;
    const before = tokenRequests();
    api.tokens.clear();
    const again = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(again.status, again.error).toBe('succeeded');
    expect(tokenRequests() - before).toBe(1);

    // A wrong secret: the token endpoint refuses it; the source waits for a person and nothing is tombstoned.
    await add(api, { clientSecret: 'wrong' }, source.id);
    const refused = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(refused.status).not.toBe('succeeded');
    expect((await getSource(deps(), 'ods'))!.state).toBe('reauthorize');
    expect(await activeIds(db, 'user')).toHaveLength(3);
  });

  test('partitions read at once: associations still apply in the listing\'s order (a person\'s first role is primary), as one reader applies them', async () => {
    const data = edfiSample();
    // Ada also enrolled at a second school, listed after her first: her first association is her primary role.
    data.schools!.push({ ...data.schools![0]!, id: edfiId('sch2'), schoolId: 255901002, nameOfInstitution: 'Grand Bend Middle' });
    data.studentSchoolAssociations!.push({ id: edfiId('ssa3'), schoolReference: { schoolId: 255901002 }, studentReference: { studentUniqueId: '1001' }, entryDate: '2024-09-02' });
    // The first range answers late, so the later ranges' pages arrive first.
    const api = fake('https://ods.example', { style: 'ods', partitions: true, slowFirstRangeMs: 30 }, data);
    const source = await add(api, { readers: 3, fullSyncHours: 0 });
    const roles = () => db.query(sql`select o.identifier, r.role_type from user_role r join org o on o.sourced_id = r.org_sourced_id
      join "user" u on u.sourced_id = r.user_sourced_id where u.identifier = '1001' order by 1`);
    const parallel = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(parallel, parallel.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(api.requests.filter((r) => r.includes('/studentSchoolAssociations'))).toEqual(expect.arrayContaining(['GET /data/v3/ed-fi/studentSchoolAssociations/partitions?number=3']));
    expect(await roles()).toEqual([{ identifier: '255901001', role_type: 'primary' }, { identifier: '255901002', role_type: 'secondary' }]);
    expect(await activeIds(db, 'enrollment')).toHaveLength(3);
    await add(api, { readers: 1, fullSyncHours: 0 }, source.id);
    const single = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(single, single.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(written(single.counts)).toBe(0);
  });

  test('an API that sends neither Total-Count nor cursors is paged until a short page', async () => {
    const api = fake('https://ods.example', { style: 'ods', totals: false });
    await add(api);
    const run = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(api.requests.filter((r) => r.includes('/students'))).toEqual([
      'GET /data/v3/ed-fi/students?limit=1&offset=0&totalCount=true', 'GET /data/v3/ed-fi/students?limit=1&offset=1', 'GET /data/v3/ed-fi/students?limit=1&offset=2',
    ]);
    expect(await activeIds(db, 'user')).toHaveLength(3);
  });

  test('items that cannot be read or refer to what the API did not list are told and left out; the rest lands', async () => {
    const data = edfiSample();
    data.sessions!.push({ id: edfiId('ses-bad'), sessionName: 'No school' });
    data.sections!.push({ id: edfiId('sec-orphan'), sectionIdentifier: 'X', courseOfferingReference: { localCourseCode: 'NONE', schoolId: 255901001, schoolYear: 2025, sessionName: 'Fall' } });
    data.studentSchoolAssociations!.push({ id: edfiId('ssa-orphan'), schoolReference: { schoolId: 255901001 }, studentReference: { studentUniqueId: '4040' }, entryDate: '2024-08-19' });
    data.students!.push({ id: edfiId('stu-alone'), studentUniqueId: '1003', firstName: 'No', lastSurname: 'School', birthDate: '2010-01-01' });
    const api = fake('https://ods.example', { style: 'ods' }, data);
    server.use(http.get(`${api.dataRoot}/courseOfferings`, ({ request }) =>
      (new URL(request.url).searchParams.get('localCourseCode') === 'NONE' ? HttpResponse.json([]) : undefined)));
    await add(api, { pageSize: 500 });
    const run = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    expect((await issues(run.runId)).map((i) => [i.entity, i.code, i.severity, i.sourcedId])).toEqual(expect.arrayContaining([
      ['academicSession', 'invalid_edfi_object', 'error', edfiId('ses-bad')],
      ['class', 'unresolved_reference', 'error', edfiId('sec-orphan')],
      ['user', 'unresolved_reference', 'error', edfiId('ssa-orphan')],
      ['user', 'no_role', 'warning', edfiId('stu-alone')],
    ]));
    expect(await activeIds(db, 'class')).toHaveLength(1);
    expect(await activeIds(db, 'user')).toHaveLength(3);
  });
});
