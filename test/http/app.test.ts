import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { loadConfig } from '../../src/config/config.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { createApp } from '../../src/http/app.ts';
import { openApiDir, openApiDocuments } from '../../src/http/openapi.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

const TOKEN = 'test-admin-token-0123456789abcdef0123456789';
const auth = { Authorization: `Bearer ${TOKEN}` };
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
const lines: string[] = [];
const dataDir = join(process.cwd(), 'data', 'test-http');

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({ orm: db.orm, config: loadConfig({ DATA_DIR: dataDir }), tokens: new TokenIssuer('k'.repeat(40), 3600), credential: credentialFromToken(TOKEN), logger: createLogger('info', {}, (l) => void lines.push(l)) });
});
afterAll(async () => {
  await db?.drop();
});

describe('health', () => {
  test('/healthz and /readyz answer without a token', async () => {
    const health = await app.request('/healthz');
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    expect(health.headers.get('content-security-policy')).toContain("default-src 'self'");
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
  });

  test('/readyz is 503 with a problem when the database is gone', async () => {
    const other = await createTestDatabase();
    const broken = createApp({ orm: other.orm, config: loadConfig({ DATA_DIR: dataDir }), tokens: new TokenIssuer('k'.repeat(40), 3600), credential: credentialFromToken(TOKEN), logger: createLogger('silent') });
    await other.drop();
    const res = await broken.request('/readyz');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 503, title: 'Service Unavailable' });
  });

  test('every request is logged as JSON with its request id, and the id is returned', async () => {
    const res = await app.request('/healthz');
    const id = res.headers.get('x-request-id');
    expect(id).toBeTruthy();
    const entry = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === id);
    expect(entry).toMatchObject({ level: 'info', msg: 'request', method: 'GET', path: '/healthz', status: 200 });
  });
});

describe('admin authentication', () => {
  const adminRoutes = () =>
    app.routes.filter((r) => r.path.startsWith('/admin/') && r.method !== 'ALL').map((r) => ({ method: r.method, path: r.path.replace(':id', '1') }));

  test('every admin route refuses a missing or wrong token with 401', async () => {
    const routes = adminRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(4);
    for (const { method, path } of routes) {
      for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: TOKEN }]) {
        const res = await app.request(path, { method, headers });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
      }
    }
  });

  test('every console page but sign-in and its assets needs a session: pages redirect to sign-in, forms are refused', async () => {
    const routes = app.routes.filter((r) => r.path.startsWith('/console') && r.method !== 'ALL' && r.path !== '/console/login' && !r.path.startsWith('/console/assets/'));
    expect(routes.length).toBeGreaterThanOrEqual(15);
    for (const { method, path } of routes) {
      const concrete = path.replace(/:id\{[^}]*\}|:id|:token/g, (m) => (m === ':token' ? 'a'.repeat(24) : '1'));
      const res = await app.request(concrete, { method, headers: { Authorization: TOKEN, cookie: 'rg_console=forged' } });
      if (method === 'GET') {
        expect(res.status, `${method} ${concrete}`).toBe(303);
        expect(res.headers.get('location')).toMatch(/^\/console\/login\?next=/);
      } else {
        expect(res.status, `${method} ${concrete}`).toBe(401);
      }
    }
  });

  test('the token is never logged', () => {
    expect(lines.join('\n')).not.toContain(TOKEN);
  });
});

describe('docs', () => {
  test('/docs serves Swagger UI from the package itself, over both documents, without a token', async () => {
    const html = await (await app.request('/docs')).text();
    expect(html).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//);
    const init = await (await app.request('/docs/init.js')).text();
    expect(init).toContain('/openapi/admin.json');
    expect(init).toContain('/ims/oneroster/rostering/v1p2/discovery/');
    const bundle = await app.request('/docs/assets/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect((await app.request('/docs/assets/..%2Fpackage.json')).status).toBe(404);
  });
});

describe('sync runs', () => {
  test('list, show, approve and reject through the admin API', async () => {
    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
    const held = await reconcile(db.orm, {
      ...defaults, source: 'sis', mode: 'bulk', batches: withRecords(smallDistrict(), 'enrollment', () => []),
    });
    expect(held.status).toBe('held');

    const list = (await (await app.request('/admin/runs?status=held', { headers: auth })).json()) as { runs: { holdReason: string }[] };
    expect(list).toMatchObject({ total: 1, runs: [{ id: held.runId, status: 'held', source: 'sis', mode: 'bulk' }] });
    expect(list.runs[0]!.holdReason).toContain('enrollment');

    const shown = await (await app.request(`/admin/runs/${held.runId}`, { headers: auth })).json();
    expect(shown).toMatchObject({ id: held.runId, issueList: [] });
    const bySource = (await (await app.request('/admin/runs?source=nobody', { headers: auth })).json()) as { total: number };
    expect(bySource.total).toBe(0);

    const bad = await reconcile(db.orm, { ...defaults, source: 'other', mode: 'delta', batches: [{ entity: 'org', file: 'orgs.csv', lines: [4], records: [{ sourcedId: 'x', name: 'X', type: 'campus' } as never] }] });
    const csv = await app.request(`/admin/runs/${bad.runId}/issues.csv`, { headers: auth });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect((await csv.text()).split('\r\n').slice(0, 2)).toEqual(['file,line,entity,sourcedId,field,severity,code,message', expect.stringMatching(/^orgs\.csv,4,org,x,type,error,invalid_value,/)]);
    expect((await app.request('/admin/runs/999999/issues.csv', { headers: auth })).status).toBe(404);

    const approved = await app.request(`/admin/runs/${held.runId}/approve`, { method: 'POST', headers: auth });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: 'succeeded', counts: { enrollment: { tombstoned: 3 } } });

    const again = await app.request(`/admin/runs/${held.runId}/approve`, { method: 'POST', headers: auth });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ status: 409, detail: `run ${held.runId} is succeeded, not held` });

    const missing = await app.request('/admin/runs/999999/reject', { method: 'POST', headers: auth });
    expect(missing.status).toBe(404);
  });

  test('bad parameters get a problem naming the parameter', async () => {
    const res = await app.request('/admin/runs?limit=0&status=sideways', { headers: auth });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['limit', 'status']);
    const byId = await app.request('/admin/runs/abc', { headers: auth });
    expect(byId.status).toBe(400);
  });

  test('an unknown route is a 404 problem', async () => {
    const res = await app.request('/nowhere');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: 'urn:rostergate:problem:not-found', status: 404 });
  });
});

test('the committed OpenAPI documents match the routes (run `npm run cli -- openapi:write`)', () => {
  for (const [name, doc] of Object.entries(openApiDocuments())) {
    expect(JSON.parse(readFileSync(join(openApiDir, name), 'utf8')), name).toEqual(doc);
  }
});
