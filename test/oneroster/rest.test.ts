import { gunzipSync } from 'node:zlib';
import { existsSync, readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient, revokeClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { RecordBatch } from '../../src/sync/records.ts';
import { DISCOVERY_PATH, officialSpecFile } from '../../standards/oneroster/rest/discovery.ts';
import { BASE_PATH, operations } from '../../standards/oneroster/rest/operations.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { loadSpec } from '../support/oneroster-oas.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

const spec = loadSpec('rostersservice.yaml');
const ORIGIN = 'https://gw.example';
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
const tokens: Record<string, string> = {};
const secrets: Record<string, { id: string; secret: string }> = {};

/** The small district, plus a grading period, a user profile and a tombstoned enrollment. */
function district(): RecordBatch[] {
  let batches = withRecords(smallDistrict(), 'academicSession', (s) => [
    ...s,
    { sourcedId: 'gp1', title: 'Quarter 1', type: 'gradingPeriod', startDate: '2024-08-15', endDate: '2024-10-15', schoolYear: '2025', parentSourcedId: 't1' },
  ]);
  batches = withRecords(batches, 'user', (users) => users.map((u) => (u.sourcedId === 'u-lisa'
    ? { ...u, userProfiles: [{ profileId: 'https://apps.example/profiles/lisa', profileType: 'app', vendorId: 'v1', credentials: [{ type: 'username', username: 'lisa.s' }] }], metadata: { 'district.homeroom': 'H-12' } }
    : u)));
  return batches;
}

/** GETs a OneRoster path with the full-scope token, another token, or none (null). */
const get = (path: string, token: string | null = tokens.full!) =>
  app.request(`${ORIGIN}${BASE_PATH}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
const json = async (res: Response) => (await res.json()) as Record<string, any>;

async function tokenFor(name: string, scopeList: string[], orgs?: string[]) {
  const client = await createClient(db.orm, { name, scopes: scopeList, orgs });
  secrets[name] = { id: client.clientId, secret: client.secret };
  const res = await app.request(`${ORIGIN}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  expect(res.status).toBe(200);
  tokens[name] = ((await res.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-rest', ONEROSTER_MAX_LIMIT: '50' }), tokens: new TokenIssuer('s'.repeat(40), 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: district() });
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'enrollment', records: [{ sourcedId: 'e3', status: 'tobedeleted' }] }] });
  await tokenFor('full', [scopes.roster, scopes.rosterDemographics]);
  await tokenFor('core', [scopes.rosterCore]);
  await tokenFor('demo', [scopes.rosterDemographics]);
  await tokenFor('s2only', [scopes.roster], ['s2']);
  await tokenFor('admin', [scopes.admin]);
});
afterAll(async () => {
  await db?.drop();
});

/** A real path for each operation, with ids from the fixture. */
const sample: Record<string, string> = {
  sourcedId: '', classSourcedId: 'cl1', courseSourcedId: 'c-math', schoolSourcedId: 's1', studentSourcedId: 'u-bart',
  teacherSourcedId: 'u-teach', termSourcedId: 't1', userSourcedId: 'u-bart',
};
const objectIds: Record<string, string> = {
  getAcademicSession: 'y2025', getClass: 'cl1', getCourse: 'c-math', getDemographics: 'u-bart', getEnrollment: 'e1', getGradingPeriod: 'gp1',
  getOrg: 'd1', getSchool: 's1', getStudent: 'u-bart', getTeacher: 'u-teach', getTerm: 't1', getUser: 'u-lisa',
};
const pathOf = (op: (typeof operations)[number]) =>
  op.path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'sourcedId' ? objectIds[op.operationId]! : sample[name]!));

describe('the 41 operations', () => {
  test('every operation of the official OpenAPI is served, and every 200 validates against it', async () => {
    expect(operations).toHaveLength(41);
    expect(new Set(operations.map((o) => o.operationId))).toEqual(new Set(spec.operations.keys()));
    for (const op of operations) {
      expect(spec.operations.get(op.operationId)!.path, op.operationId).toBe(op.path.replace(/\{\w+\}/g, (m) => m));
      const res = await get(pathOf(op));
      expect(res.status, `${op.operationId} ${pathOf(op)}`).toBe(200);
      const body = await json(res);
      expect(spec.validate(op.operationId, 200, body), op.operationId).toEqual([]);
      if (op.kind === 'collection') {
        expect(Array.isArray(body[op.key]), op.operationId).toBe(true);
        expect(res.headers.get('x-total-count'), op.operationId).toBe(String(body[op.key].length));
      }
    }
  });

  test('the shapes: GUIDRefs with absolute hrefs, string booleans, arrays, no nulls, extensions under metadata', async () => {
    const { user } = await json(await get('/users/u-lisa'));
    expect(user).toMatchObject({
      sourcedId: 'u-lisa', status: 'active', enabledUser: 'true', givenName: 'Lisa', metadata: { 'district.homeroom': 'H-12' },
      roles: [{ roleType: 'primary', role: 'student', org: { href: `${ORIGIN}${BASE_PATH}/orgs/s1`, sourcedId: 's1', type: 'org' } }],
      userProfiles: [{ profileId: 'https://apps.example/profiles/lisa', credentials: [{ type: 'username', username: 'lisa.s' }] }],
    });
    expect(user.dateLastModified).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(JSON.stringify(user)).not.toContain('null');
    const { class: cls } = await json(await get('/classes/cl1'));
    expect(cls).toMatchObject({ periods: ['1'], terms: [{ href: `${ORIGIN}${BASE_PATH}/academicSessions/t1`, sourcedId: 't1', type: 'academicSession' }] });
    const { enrollment } = await json(await get('/enrollments/e1'));
    expect(enrollment.primary).toBe('true');
    const { org } = await json(await get('/orgs/d1'));
    expect(org.children.map((c: { sourcedId: string }) => c.sourcedId)).toEqual(['s1', 's2']);
  });

  test('subsets and nested routes pick the right rows', async () => {
    const ids = async (path: string, key: string) => (await json(await get(path)))[key].map((x: { sourcedId: string }) => x.sourcedId);
    expect(await ids('/schools', 'orgs')).toEqual(['s1', 's2']);
    expect(await ids('/students', 'users')).toEqual(['u-bart', 'u-lisa']);
    expect(await ids('/teachers', 'users')).toEqual(['u-teach']);
    expect(await ids('/terms', 'academicSessions')).toEqual(['t1']);
    expect(await ids('/terms/t1/gradingPeriods', 'academicSessions')).toEqual(['gp1']);
    expect(await ids('/classes/cl1/students', 'users')).toEqual(['u-bart']);
    expect(await ids('/classes/cl1/teachers', 'users')).toEqual(['u-teach']);
    expect(await ids('/schools/s2/classes', 'classes')).toEqual(['cl2']);
    expect(await ids('/schools/s1/classes/cl1/enrollments', 'enrollments')).toEqual(['e1', 'e2', 'e3']);
    expect(await ids('/schools/s2/classes/cl1/students', 'users')).toEqual([]);
    expect(await ids('/users/u-teach/classes', 'classes')).toEqual(['cl1']);
    expect((await get('/students/u-teach')).status).toBe(404);
  });

  test('/teachers lists a teacher once however many schools they teach at, with the usual filters, scope and totals', async () => {
    const edna = district().find((b) => b.entity === 'user')!.records.find((u) => u.sourcedId === 'u-teach') as Record<string, any>;
    const write = (roles: unknown[]) => reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'user', records: [{ ...edna, roles }] } as RecordBatch] });
    await write([...edna.roles, { roleType: 'secondary', role: 'teacher', orgSourcedId: 's2' }]);
    const all = await get('/teachers');
    expect((await json(all)).users.map((u: { sourcedId: string }) => u.sourcedId)).toEqual(['u-teach']);
    expect(all.headers.get('x-total-count')).toBe('1');
    expect((await json(await get(`/teachers?filter=${encodeURIComponent("familyName='Krabappel'")}`))).users).toHaveLength(1);
    expect((await json(await get(`/teachers?filter=${encodeURIComponent("familyName='Simpson'")}`))).users).toHaveLength(0);
    expect((await json(await get('/teachers?offset=1'))).users).toHaveLength(0);
    await write(edna.roles);
  });

  test('clients that accept gzip get the page compressed, the same JSON inside; both carry Vary and the security headers', async () => {
    const first = await get('/users');
    const plain = await first.text();
    const res = await app.request(`${ORIGIN}${BASE_PATH}/users`, { headers: { Authorization: `Bearer ${tokens.full}`, 'accept-encoding': 'gzip' } });
    for (const r of [first, res]) {
      expect(r.headers.get('vary')).toBe('Accept-Encoding');
      expect(r.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(r.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    }
    expect(first.headers.get('content-encoding')).toBeNull();
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await res.arrayBuffer())).toString('utf8')).toBe(plain);
  });

  test('a tombstoned row stays visible with status tobedeleted, for exact deltas', async () => {
    const { enrollment } = await json(await get('/enrollments/e3'));
    expect(enrollment.status).toBe('tobedeleted');
    const since = enrollment.dateLastModified as string;
    const delta = await json(await get(`/enrollments?filter=${encodeURIComponent(`dateLastModified>='${since}'`)}`));
    expect(delta.enrollments.map((e: { sourcedId: string }) => e.sourcedId)).toEqual(['e3']);
    const after = await json(await get(`/enrollments?filter=${encodeURIComponent(`dateLastModified>'${since}'`)}`));
    expect(after.enrollments).toEqual([]);
  });

  test('served JSON is cached by etag: a changed row is rendered again, and hrefs follow the request', async () => {
    const first = await json(await get('/users/u-bart'));
    await new Promise((r) => setTimeout(r, 50));
    const { rows } = await sql<{ json: string }>`select json from oneroster_cache where resource = 'user' and sourced_id = 'u-bart'`.execute(db.orm.em.fork().getKysely());
    expect(rows).toHaveLength(1);
    // Stored as rendered for the answer, with the request's base turned back into the marker.
    expect(rows[0]!.json).not.toContain('gw.example');
    expect(rows[0]!.json).toContain('\\u0001base\\u0001/orgs/s1');
    expect(await json(await get('/users/u-bart'))).toEqual(first);
    const other = await json(await app.request(`https://other.example${BASE_PATH}/users/u-bart`, { headers: { Authorization: `Bearer ${tokens.full}` } }));
    expect(other.user.roles[0].org.href).toBe(`https://other.example${BASE_PATH}/orgs/s1`);
    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'user', records: [
      { ...(district().find((b) => b.entity === 'user')!.records.find((u) => u.sourcedId === 'u-bart') as object), givenName: 'Bartholomew' } as never,
    ] }] });
    expect((await json(await get('/users/u-bart'))).user.givenName).toBe('Bartholomew');
    expect((await json(await get('/users?filter=givenName%3D%27Bartholomew%27'))).users).toHaveLength(1);
    // Back as the other tests expect him.
    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'user', records: district().find((b) => b.entity === 'user')!.records.filter((u) => u.sourcedId === 'u-bart') } as RecordBatch] });
    expect((await json(await get('/users/u-bart'))).user.givenName).toBe('Bart');
  });

  test('served JSON is kept in memory as well, by etag and base: the database copy is read only on a miss', async () => {
    const first = await json(await get('/users/u-lisa'));
    await new Promise((r) => setTimeout(r, 50));
    const k = db.orm.em.fork().getKysely();
    // A database copy that differs from what was served (it never does; here it tells the tiers apart).
    await sql`update oneroster_cache set json = replace(json, '"Lisa"', '"Elisabeth"') where resource = 'user' and sourced_id = 'u-lisa'`.execute(k);
    expect(await json(await get('/users/u-lisa'))).toEqual(first);
    const elsewhere = await json(await app.request(`https://other.example${BASE_PATH}/users/u-lisa`, { headers: { Authorization: `Bearer ${tokens.full}` } }));
    expect(elsewhere.user.givenName).toBe('Elisabeth');
    await sql`delete from oneroster_cache where resource = 'user' and sourced_id = 'u-lisa'`.execute(k);
  });

  test('paths the service does not have are 404, other methods 405, in the standard error shape', async () => {
    const missing = await get('/classes/cl1/enrollments');
    expect(missing.status).toBe(404);
    expect((await json(missing)).imsx_codeMajor).toBe('failure');
    const post = await app.request(`${ORIGIN}${BASE_PATH}/users`, { method: 'POST', headers: { Authorization: `Bearer ${tokens.full}` }, body: '{}' });
    expect(post.status).toBe(405);
  });

  test('an unknown object is 404 unknownobject in the standard error shape', async () => {
    const res = await get('/users/nobody');
    expect(res.status).toBe(404);
    const body = await json(res);
    expect(spec.validate('getUser', 404, body)).toEqual([]);
    expect(body.imsx_CodeMinor.imsx_codeMinorField[0].imsx_codeMinorFieldValue).toBe('unknownobject');
  });
});

describe('discovery', () => {
  test('the localized official OpenAPI: this server, this token URL, the 41 operations, no token needed', async () => {
    const res = await app.request(`${ORIGIN}${DISCOVERY_PATH}`);
    expect(res.status).toBe(200);
    const doc = await json(res);
    expect(doc.servers).toEqual([{ url: `${ORIGIN}${BASE_PATH}`, description: 'This Rostergate gateway' }]);
    expect(doc.components.securitySchemes.OAuth2CC.flows.clientCredentials.tokenUrl).toBe(`${ORIGIN}/oauth/token`);
    expect(Object.keys(doc.paths)).toHaveLength(41);
    expect(Object.values(doc.paths).flatMap((p) => Object.values(p as object)).filter((o) => (o as { operationId?: string }).operationId)).toHaveLength(41);
  });

  const shared = new URL('../../../shared/specs/oneroster/rostersservice.yaml', import.meta.url);
  test.skipIf(!existsSync(shared))('the vendored rostering OpenAPI is the official file, unchanged', () => {
    expect(readFileSync(officialSpecFile, 'utf8')).toBe(readFileSync(shared, 'utf8'));
  });
});

describe('filter, sort, fields, paging', () => {
  const users = async (query: string) => {
    const res = await get(`/users?${query}`);
    return { res, ids: res.status === 200 ? (await json(res)).users.map((u: { sourcedId: string }) => u.sourcedId) : await json(res) };
  };
  const f = (expr: string) => `filter=${encodeURIComponent(expr)}`;

  test('every operator, AND and OR, quoting and spaces', async () => {
    expect((await users(f("givenName='Bart'"))).ids).toEqual(['u-bart']);
    expect((await users(f("familyName!='Simpson'"))).ids).toEqual(['u-teach']);
    expect((await users(f("sourcedId>'u-lisa'"))).ids).toEqual(['u-teach']);
    expect((await users(f("sourcedId>='u-lisa'"))).ids).toEqual(['u-lisa', 'u-teach']);
    expect((await users(f("sourcedId<'u-lisa'"))).ids).toEqual(['u-bart']);
    expect((await users(f("sourcedId<='u-bart'"))).ids).toEqual(['u-bart']);
    expect((await users(f("email~'EXAMPLE'"))).ids).toEqual(['u-teach']);
    expect((await users(f("familyName='Simpson' AND givenName='Lisa'"))).ids).toEqual(['u-lisa']);
    expect((await users(f("givenName='Edna' OR givenName='Bart'"))).ids).toEqual(['u-bart', 'u-teach']);
    expect((await users(f("givenName='Lisa' OR familyName='Krabappel' AND givenName='Edna'"))).ids).toEqual(['u-lisa', 'u-teach']);
    const courses = await json(await get(`/classes?${f("title='Algebra I - P2'")}`));
    expect(courses.classes.map((c: { sourcedId: string }) => c.sourcedId)).toEqual(['cl2']);
    expect((await users(f("givenName='O''Brien'"))).ids).toEqual([]);
    expect((await users(f("givenName='%'"))).ids).toEqual([]);
    expect((await users(f("givenName~'_'"))).ids).toEqual([]);
  });

  test('dotted fields, booleans, lists and dates', async () => {
    expect((await users(f("roles.role='teacher'"))).ids).toEqual(['u-teach']);
    expect((await users(f("roles.org.sourcedId='s1' AND roles.role='student'"))).ids).toEqual(['u-bart', 'u-lisa']);
    expect((await users(f("userIds.identifier='1001'"))).ids).toEqual(['u-bart']);
    expect((await users(f("enabledUser='true'"))).ids).toEqual(['u-bart', 'u-lisa', 'u-teach']);
    expect((await users(f("grades='09'"))).ids).toEqual(['u-bart', 'u-lisa']);
    const enrollments = await json(await get(`/enrollments?${f("class.sourcedId='cl1' AND role='teacher'")}`));
    expect(enrollments.enrollments.map((e: { sourcedId: string }) => e.sourcedId)).toEqual(['e1']);
    const sessions = await json(await get(`/academicSessions?${f("startDate>'2024-08-01' AND type='term'")}`));
    expect(sessions.academicSessions.map((s: { sourcedId: string }) => s.sourcedId)).toEqual(['t1']);
  });

  test('bad filters are 400 invalid_filter_field, and injection goes nowhere', async () => {
    for (const bad of ["password='x'", "givenName='a", "givenName=Bart", "givenName='a' XOR givenName='b'", "givenName='a' and givenName='b'",
      "enabledUser>'true'", "dateLastModified>'yesterday'", "grades>'09'", "givenName='x'; drop table users; --'", "1=1"]) {
      const { res, ids: body } = await users(f(bad));
      expect(res.status, bad).toBe(400);
      expect(spec.validate('getAllUsers', 400, body), bad).toEqual([]);
      expect(body.imsx_CodeMinor.imsx_codeMinorField[0].imsx_codeMinorFieldValue, bad).toBe('invalid_filter_field');
    }
    expect((await users(f("givenName='x'' OR ''1''=''1'"))).ids).toEqual([]);
  });

  test('sort and orderBy; an unknown sort field is 400', async () => {
    expect((await users('sort=givenName&orderBy=desc')).ids).toEqual(['u-lisa', 'u-teach', 'u-bart']);
    expect((await users('sort=familyName')).ids).toEqual(['u-teach', 'u-bart', 'u-lisa']);
    expect((await users('sort=password')).res.status).toBe(400);
    expect((await users('orderBy=sideways')).res.status).toBe(400);
  });

  test('fields, comma-separated or repeated; unknown fields answer 200 with a warning', async () => {
    const a = await json(await get('/users/u-bart?fields=sourcedId,givenName'));
    expect(a.user).toEqual({ sourcedId: 'u-bart', givenName: 'Bart' });
    const b = await json(await get('/users?fields=sourcedId&fields=familyName&limit=1'));
    expect(b.users).toEqual([{ sourcedId: 'u-bart', familyName: 'Simpson' }]);
    const res = await get('/users/u-bart?fields=shoeSize');
    expect(res.status).toBe(200);
    expect((await json(res)).user.givenName).toBe('Bart');
    expect(JSON.parse(res.headers.get('x-oneroster-warning')!)).toMatchObject({ imsx_codeMajor: 'success', imsx_severity: 'warning' });
  });

  test('pages concatenate to the whole ordered set, with X-Total-Count and absolute Link headers', async () => {
    const all = (await users('limit=50')).ids as string[];
    const paged: string[] = [];
    for (let offset = 0; offset < all.length; offset++) {
      const res = await get(`/users?limit=1&offset=${offset}`);
      expect(res.headers.get('x-total-count')).toBe(String(all.length));
      paged.push(...(await json(res)).users.map((u: { sourcedId: string }) => u.sourcedId));
    }
    expect(paged).toEqual(all);
    // Again, now that the page starts are known (read from the known id instead of counting past),
    // and in descending order: the same pages.
    const again: string[] = [];
    for (let offset = 0; offset < all.length; offset++) again.push(...(await json(await get(`/users?limit=1&offset=${offset}`))).users.map((u: { sourcedId: string }) => u.sourcedId));
    expect(again).toEqual(all);
    const desc: string[] = [];
    for (let pass = 0; pass < 2; pass++) {
      desc.length = 0;
      for (let offset = 0; offset < all.length; offset++) desc.push(...(await json(await get(`/users?limit=1&offset=${offset}&orderBy=desc`))).users.map((u: { sourcedId: string }) => u.sourcedId));
      expect(desc).toEqual([...all].reverse());
    }
    const link = (await get('/users?limit=1&offset=1')).headers.get('link')!;
    expect(link).toContain(`<${ORIGIN}${BASE_PATH}/users?limit=1&offset=2>; rel="next"`);
    expect(link).toContain(`<${ORIGIN}${BASE_PATH}/users?limit=1&offset=0>; rel="prev"`);
    expect(link).toContain(`<${ORIGIN}${BASE_PATH}/users?limit=1&offset=0>; rel="first"`);
    expect(link).toContain(`<${ORIGIN}${BASE_PATH}/users?limit=1&offset=2>; rel="last"`);
    const filtered = await get(`/users?limit=1&${f("familyName='Simpson'")}`);
    expect(filtered.headers.get('x-total-count')).toBe('2');
  });

  test('a limit past the cap is clamped (and said so); a bad limit or offset is 400 invaliddata', async () => {
    const res = await get('/users?limit=10000');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-limit-applied')).toBe('50');
    expect(res.headers.get('link')).toContain('limit=50');
    for (const bad of ['limit=0', 'limit=-1', 'limit=ten', 'limit=1&limit=2', 'offset=-5']) {
      const r = await get(`/users?${bad}`);
      expect(r.status, bad).toBe(400);
      expect((await json(r)).imsx_CodeMinor.imsx_codeMinorField[0].imsx_codeMinorFieldValue).toBe('invaliddata');
    }
  });
});

describe('OAuth and scopes', () => {
  test('every data route: 401 without a token or with a bad one, 403 with the wrong scope', async () => {
    for (const op of operations) {
      for (const token of [null, 'not-a-token', `${tokens.full}x`]) {
        const res = await get(pathOf(op), token);
        expect(res.status, `${op.operationId} ${token}`).toBe(401);
        expect(spec.validate(op.operationId, 401, await json(res))).toEqual([]);
      }
      const wrong = op.access === 'demographics' ? tokens.core : op.access === 'roster' ? tokens.core : tokens.demo;
      const res = await get(pathOf(op), wrong);
      expect(res.status, `${op.operationId} with the wrong scope`).toBe(403);
      expect((await json(res)).imsx_CodeMinor.imsx_codeMinorField[0].imsx_codeMinorFieldValue).toBe('forbidden');
    }
    expect((await get('/users', tokens.core)).status).toBe(200);
    expect((await get('/demographics', tokens.demo)).status).toBe(200);
    expect((await get('/demographics', tokens.full)).status).toBe(200);
  });

  test('the token endpoint: Basic or form body; RFC 6749 errors', async () => {
    const { id, secret } = secrets.core!;
    const post = (body: string, headers: Record<string, string> = {}) =>
      app.request(`${ORIGIN}/oauth/token`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    const form = await post(`grant_type=client_credentials&client_id=${id}&client_secret=${secret}&scope=${encodeURIComponent(scopes.rosterCore)}`);
    expect(form.status).toBe(200);
    expect(await json(form)).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: scopes.rosterCore });
    expect(form.headers.get('cache-control')).toBe('no-store');
    const basic = { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` };
    expect((await json(await post(`grant_type=client_credentials&client_id=${id}&client_secret=${secret}`, basic))).error).toBe('invalid_request');
    const wrong = await post(`grant_type=client_credentials&client_id=${id}&client_secret=nope`);
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error).toBe('invalid_client');
    expect((await json(await post('grant_type=password', basic))).error).toBe('unsupported_grant_type');
    expect((await json(await post(`grant_type=client_credentials&scope=${encodeURIComponent(scopes.roster)}`, basic))).error).toBe('invalid_scope');
    expect((await json(await post('grant_type=client_credentials'))).error).toBe('invalid_client');
    const asJson = await app.request(`${ORIGIN}/oauth/token`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...basic } });
    expect((await json(asJson)).error).toBe('invalid_request');
  });

  test('an org-scoped client sees only its orgs, and no OR in a filter gets past that', async () => {
    const token = tokens.s2only;
    const classes = await json(await get('/classes', token));
    expect(classes.classes.map((c: { sourcedId: string }) => c.sourcedId)).toEqual(['cl2']);
    const escape = await json(await get(`/classes?filter=${encodeURIComponent("sourcedId='cl1' OR sourcedId!='x'")}`, token));
    expect(escape.classes.map((c: { sourcedId: string }) => c.sourcedId)).toEqual(['cl2']);
    expect((await get('/classes/cl1', token)).status).toBe(404);
    expect((await json(await get('/users', token))).users).toEqual([]);
  });

  test('X-Total-Count and deep pages follow writes (what is reused is reused only while nothing changed)', async () => {
    const before = Number((await get('/users?limit=1')).headers.get('x-total-count'));
    const second = (await json(await get('/users?limit=1&offset=1'))).users[0].sourcedId;
    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'user', records: [
      { sourcedId: 'u-new', enabledUser: true, givenName: 'Maggie', familyName: 'Simpson', roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1' }] },
    ] }] });
    expect(Number((await get('/users?limit=1')).headers.get('x-total-count'))).toBe(before + 1);
    // u-new sorts after u-lisa: the second page is still the same row, the last one is new.
    expect((await json(await get('/users?limit=1&offset=1'))).users[0].sourcedId).toBe(second);
    const ids: string[] = [];
    for (let offset = 0; offset <= before; offset++) ids.push((await json(await get(`/users?limit=1&offset=${offset}`))).users[0].sourcedId);
    expect(new Set(ids).size).toBe(before + 1);
    expect(ids).toContain('u-new');
  });

  test('the request log names the client that read', async () => {
    const lines: string[] = [];
    const logged = createApp({
      orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-rest' }), tokens: new TokenIssuer('s'.repeat(40), 600),
      credential: credentialFromToken('a'.repeat(40)), logger: createLogger('info', {}, (l) => void lines.push(l)),
    });
    await logged.request(`${ORIGIN}${BASE_PATH}/users?limit=1`, { headers: { Authorization: `Bearer ${tokens.full}` } });
    const entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request');
    expect(entry).toMatchObject({ clientId: secrets.full!.id, path: `${BASE_PATH}/users`, status: 200 });
    expect(lines.join('\n')).not.toContain(tokens.full);
  });

  test('a revoked client loses its tokens; the admin API takes an admin-scoped token', async () => {
    expect((await app.request(`${ORIGIN}/admin/runs`, { headers: { Authorization: `Bearer ${tokens.admin}` } })).status).toBe(200);
    expect((await app.request(`${ORIGIN}/admin/runs`, { headers: { Authorization: `Bearer ${tokens.full}` } })).status).toBe(401);
    const client = await createClient(db.orm, { name: 'temp', scopes: [scopes.roster] });
    const issued = await new TokenIssuer('s'.repeat(40), 600).issue(client.clientId, [scopes.roster], null);
    expect((await get('/users', issued)).status).toBe(200);
    await revokeClient(db.orm, client.clientId);
    await new Promise((r) => setTimeout(r, 10));
    const expired = await new TokenIssuer('s'.repeat(40), 600).issue(client.clientId, [scopes.roster], null);
    // Revocation is cached for a few seconds per client; a fresh app sees it at once.
    const fresh = createApp({
      orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-rest' }), tokens: new TokenIssuer('s'.repeat(40), 600),
      credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
    });
    expect((await fresh.request(`${ORIGIN}${BASE_PATH}/users`, { headers: { Authorization: `Bearer ${expired}` } })).status).toBe(401);
  });
});
