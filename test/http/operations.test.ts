import { sql } from 'kysely';
import { beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { AuditLog } from '../../src/audit.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { RateLimiter } from '../../src/http/rate-limit.ts';
import { createLogger } from '../../src/log.ts';
import { purgeTombstones } from '../../src/sync/purge.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { BASE_PATH } from '../../standards/oneroster/rest/operations.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults, smallDistrict } from '../support/roster.ts';

/** What an operator needs on day one: metrics, the audit trail, rate and size limits, CORS, tombstone purges. */

const db = useTestDatabase();
const ADMIN = 'a'.repeat(40);
const tokenIssuer = new TokenIssuer('s'.repeat(40), 600);
const appWith = (env: Record<string, string> = {}) => {
  const audit = new AuditLog(db.orm, createLogger('silent'));
  const app = createApp({ orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-ops', ...env }), tokens: tokenIssuer, credential: credentialFromToken(ADMIN), logger: createLogger('silent'), audit });
  return { app, audit };
};
async function tokenOf(app: ReturnType<typeof createApp>, scopeList: string[]) {
  const client = await createClient(db.orm, { name: 'vendor', scopes: scopeList });
  const res = await app.request('/oauth/token', {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
  });
  return { clientId: client.clientId, token: ((await res.json()) as { access_token: string }).access_token };
}

beforeAll(async () => {
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
});

describe('metrics', () => {
  test('/metrics: requests by route pattern and status with latencies, runs, rows, tokens and pools, in Prometheus format', async () => {
    const { app } = appWith();
    const { token } = await tokenOf(app, [scopes.roster]);
    await app.request(`${BASE_PATH}/users/u-lisa`, { headers: { authorization: `Bearer ${token}` } });
    await app.request('/oauth/token', { method: 'POST', body: 'grant_type=client_credentials&client_id=x&client_secret=y', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const res = await app.request('/metrics');
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain(`rostergate_http_requests_total{route="${BASE_PATH}/users/:sourcedId",method="GET",status="200"}`);
    expect(text).toMatch(/rostergate_http_request_duration_seconds_bucket\{le="0.05",route="[^"]+users\/:sourcedId",method="GET"\}/);
    expect(text).toMatch(/rostergate_sync_runs_total\{source="sis",status="succeeded"\} \d/);
    expect(text).toMatch(/rostergate_sync_rows_total\{entity="user",outcome="created"\} \d/);
    expect(text).toMatch(/rostergate_oauth_tokens_total\{outcome="issued"\} \d/);
    expect(text).toMatch(/rostergate_oauth_tokens_total\{outcome="invalid_client"\} \d/);
    expect(text).toMatch(/rostergate_db_pool_connections\{pool="orm",state="total"\} \d/);
    // The user just read is kept as served.
    expect(text).toMatch(/rostergate_json_cache\{door="oneroster",measure="entries"\} [1-9]/);
    expect(text).toMatch(/rostergate_json_cache\{door="oneroster",measure="bytes"\} [1-9]/);
    // No person's id becomes a label.
    expect(text).not.toContain('u-lisa');
  });
});

describe('audit', () => {
  test('API reads record client, route, path and record count; admin actions too; GET /admin/audit lists them', async () => {
    const { app, audit } = appWith();
    const { token, clientId } = await tokenOf(app, [scopes.roster]);
    const auth = { authorization: `Bearer ${token}` };
    await app.request(`${BASE_PATH}/students?limit=2`, { headers: auth });
    await app.request(`${BASE_PATH}/users/u-lisa`, { headers: auth });
    await app.request(`${BASE_PATH}/users?filter=${encodeURIComponent("username='lsimpson'")}`, { headers: auth });
    await app.request('/admin/runs', { headers: { authorization: `Bearer ${ADMIN}` } });
    await audit.flush();
    const res = await app.request(`/admin/audit?actor=${clientId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const { events } = (await res.json()) as { events: { route: string; path: string; records: number | null; status: number; actorKind: string }[] };
    expect(events.map((e) => [e.route, e.records, e.status])).toEqual([
      [`${BASE_PATH}/users`, 1, 200],
      [`${BASE_PATH}/users/:sourcedId`, 1, 200],
      [`${BASE_PATH}/students`, 2, 200],
    ]);
    expect(events[1]!.path).toBe(`${BASE_PATH}/users/u-lisa`);
    // The query string (here a username) is never stored.
    const [all] = await db.query(sql<{ text: string }>`select string_agg(path, ' ') as text from audit_event`);
    expect(all!.text).not.toContain('lsimpson');
    const admin = (await (await app.request('/admin/audit?actor=admin-token', { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { events: { route: string }[] };
    expect(admin.events.map((e) => e.route)).toContain('/admin/runs');
  });
});

describe('protection', () => {
  test('rate limits answer 429 with Retry-After in each standard\'s error shape; other clients are not affected', async () => {
    const { app } = appWith({ RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '2' });
    const a = await tokenOf(app, [scopes.roster, scopes.edfiRead]);
    const b = await tokenOf(app, [scopes.roster]);
    const get = (token: string, path = `${BASE_PATH}/orgs`) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
    expect((await get(a.token)).status).toBe(200);
    expect((await get(a.token)).status).toBe(200);
    const limited = await get(a.token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ imsx_codeMajor: 'failure', imsx_severity: 'error', imsx_CodeMinor: { imsx_codeMinorField: [{ imsx_codeMinorFieldValue: 'server_busy' }] } });
    const edfi = await get(a.token, '/data/v3/ed-fi/schools');
    expect(edfi.status).toBe(429);
    expect(edfi.headers.get('content-type')).toContain('application/problem+json');
    expect(await edfi.json()).toMatchObject({ status: 429, type: 'urn:ed-fi:api:too-many-requests' });
    expect((await get(b.token)).status).toBe(200);
    const limiter = new RateLimiter(10, 1);
    expect([limiter.take('k', 0), limiter.take('k', 0), limiter.take('k', 100)]).toEqual([0, 1, 0]);
  });

  test('bodies have a ceiling (413), CORS is off unless origins are named, security headers are on', async () => {
    const { app } = appWith({ MAX_BODY_BYTES: '1024' });
    const big = await app.request('/oauth/token', { method: 'POST', body: `grant_type=client_credentials&pad=${'x'.repeat(4096)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(big.status).toBe(413);
    const plain = await app.request(`${BASE_PATH}/orgs`, { headers: { origin: 'https://evil.example' } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    expect(plain.headers.get('x-content-type-options')).toBe('nosniff');
    expect(plain.headers.get('strict-transport-security')).toBeTruthy();
    const withCors = appWith({ CORS_ORIGINS: 'https://app.district.example' }).app;
    const allowed = await withCors.request(`${BASE_PATH}/orgs`, { method: 'OPTIONS', headers: { origin: 'https://app.district.example', 'access-control-request-method': 'GET' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.district.example');
    const other = await withCors.request(`${BASE_PATH}/orgs`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });
});

describe('data lifecycle', () => {
  test('tombstones older than the window are purged; recent ones and ones still referenced stay', async () => {
    const district = smallDistrict();
    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: district });
    for (const id of ['e1', 'e2']) {
      await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'enrollment', records: [{ sourcedId: id, status: 'tobedeleted' }] }] });
    }
    await db.query(sql`update enrollment set date_last_modified = now() - interval '200 days' where sourced_id = 'e1'`);
    // An old tombstone some live enrollment still points at (a class) must stay.
    const [{ cls }] = (await db.query(sql<{ cls: string }>`select class_sourced_id as cls from enrollment where status = 'active' limit 1`)) as [{ cls: string }];
    await db.query(sql`update class set status = 'tobedeleted', date_last_modified = now() - interval '400 days' where sourced_id = ${cls}`);
    const purged = await purgeTombstones(db.orm, 180);
    expect(purged.enrollment).toBe(1);
    expect(purged.class).toBe(0);
    const left = await db.query(sql<{ id: string }>`select sourced_id as id from enrollment where status = 'tobedeleted' order by 1`);
    expect(left.map((r) => r.id)).toEqual(['e2']);
  });
});
