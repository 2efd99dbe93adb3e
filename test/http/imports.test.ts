import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { loadConfig } from '../../src/config/config.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { fixture, variant, zipOf } from '../support/csv.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const TOKEN = 'test-admin-token-0123456789abcdef0123456789';
const auth = { Authorization: `Bearer ${TOKEN}` };
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let zip: Buffer;

beforeAll(async () => {
  db = await createTestDatabase();
  const config = loadConfig({ DATA_DIR: join(process.cwd(), 'data', 'test-http'), IMPORT_MAX_UPLOAD_BYTES: '200000' });
  app = createApp({ orm: db.orm, config, tokens: new TokenIssuer('k'.repeat(40), 3600), credential: credentialFromToken(TOKEN), logger: createLogger('silent') });
  zip = readFileSync(await zipOf(fixture('bulk')));
});
afterAll(async () => {
  await db?.drop();
});

const upload = (body: RequestInit['body'], type = 'application/zip', query = '') =>
  app.request(`/admin/imports${query}`, { method: 'POST', body, headers: { ...auth, 'content-type': type } });

/** Polls the import until it has finished. */
async function finished(id: number) {
  for (let i = 0; i < 200; i++) {
    const view = (await (await app.request(`/admin/imports/${id}`, { headers: auth })).json()) as { status: string; counts: Record<string, Record<string, number>>; issueList: unknown[] };
    if (view.status !== 'running') return view;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`import ${id} did not finish`);
}

describe('POST /admin/imports', () => {
  test('a zip body is accepted at once, then imports in the background', async () => {
    const res = await upload(zip, 'application/zip', '?source=sis');
    expect(res.status).toBe(202);
    const { id, href } = (await res.json()) as { id: number; href: string };
    expect(res.headers.get('location')).toBe(href);
    const view = await finished(id);
    expect(view).toMatchObject({ status: 'succeeded', source: 'sis' });
    expect(view.counts.user).toMatchObject({ created: 4 });
  });

  test('a multipart form with a file part works the same; dryRun writes nothing', async () => {
    const form = new FormData();
    form.append('file', new Blob([zip], { type: 'application/zip' }), 'roster.zip');
    const res = await app.request('/admin/imports?source=sis&dryRun=true', { method: 'POST', body: form, headers: auth });
    expect(res.status).toBe(202);
    const view = await finished(((await res.json()) as { id: number }).id);
    expect(view.status).toBe('validated');
  });

  test('an invalid package: the report by file and line, as JSON and as CSV', async () => {
    const bad = readFileSync(await zipOf(variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High,school', 'Springfield High,campus') })));
    const { id } = (await (await upload(bad, 'application/zip', '?source=sis')).json()) as { id: number };
    const view = await finished(id);
    expect(view.status).toBe('invalid');
    expect(view.issueList).toEqual([expect.objectContaining({ file: 'orgs.csv', line: 3, field: 'type', code: 'invalid_enum', severity: 'error' })]);
    const csv = await app.request(`/admin/imports/${id}?format=csv`, { headers: auth });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('file,line,entity,sourcedId,field,severity,code,message');
    expect(lines[1]).toMatch(/^orgs\.csv,3,org,s1,type,error,invalid_enum,/);
  });

  test('refusals: too large (413), not a zip or form (415), a form without file (400), bad dryRun (400), no token (401)', async () => {
    const big = Buffer.alloc(300_000, 1);
    expect((await upload(big)).status).toBe(413);
    const chunked = new ReadableStream({ start(c) { c.enqueue(big); c.close(); } });
    const streamed = await app.request('/admin/imports', { method: 'POST', body: chunked, headers: { ...auth, 'content-type': 'application/zip' }, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(streamed.headers.get('content-type')).toContain('application/problem+json');
    expect((await upload('{}', 'application/json')).status).toBe(415);
    const form = new FormData();
    form.append('other', 'x');
    expect((await app.request('/admin/imports', { method: 'POST', body: form, headers: auth })).status).toBe(400);
    expect((await upload(zip, 'application/zip', '?dryRun=maybe')).status).toBe(400);
    expect((await app.request('/admin/imports', { method: 'POST', body: zip, headers: { 'content-type': 'application/zip' } })).status).toBe(401);
  });

  test('an unknown import is 404', async () => {
    expect((await app.request('/admin/imports/99999', { headers: auth })).status).toBe(404);
  });
});

describe('GET /admin/exports', () => {
  test('a zip of the shared schema that imports back unchanged; a bad since is 400', async () => {
    const res = await app.request('/admin/exports', { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    const path = join(process.cwd(), 'data', 'test-http', 'export.zip');
    writeFileSync(path, Buffer.from(await res.arrayBuffer()));
    const { id } = (await (await upload(readFileSync(path), 'application/zip', '?source=sis')).json()) as { id: number };
    const view = await finished(id);
    expect(view.status).toBe('succeeded');
    expect(view.counts.user).toMatchObject({ created: 0, updated: 0, unchanged: 4 });
    const bad = await app.request('/admin/exports?since=yesterday', { headers: auth });
    expect(bad.status).toBe(400);
    const delta = await app.request(`/admin/exports?since=${new Date().toISOString()}`, { headers: auth });
    expect(delta.status).toBe(200);
    expect((await delta.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });
});
