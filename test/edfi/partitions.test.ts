import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { generateDistrict } from '../../bench/generate.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { accessToken, gatewayApp } from '../support/gateway.ts';
import { defaults } from '../support/roster.ts';

/** GET …/partitions (ODS/API 7.3, DMS): ranges of a collection that readers page through in parallel. */

const ED = 'https://gw.example/data/v3/ed-fi';
let db: TestDatabase;
let app: ReturnType<typeof gatewayApp>;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  app = gatewayApp(db.orm, './data/test-edfi-partitions', 'p'.repeat(40));
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: generateDistrict({ scale: 'small', batchSize: 1000 }) });
  token = await accessToken(app, await createClient(db.orm, { name: 'reader', scopes: [scopes.edfiRead] }));
}, 60_000);
afterAll(async () => {
  await db?.drop();
});

const get = (path: string) => app.request(`${ED}${path}`, { headers: { authorization: `Bearer ${token}` } });

/** Every id of a chain of cursor pages of a resource, from `first`. */
async function walk(first: string, resource = 'studentSectionAssociations'): Promise<string[]> {
  const ids: string[] = [];
  for (let url: string | null = first; url;) {
    const res = await get(url);
    expect(res.status).toBe(200);
    ids.push(...((await res.json()) as { id: string }[]).map((i) => i.id));
    const next = res.headers.get('next-page-token');
    url = next ? `/${resource}?pageToken=${next}&pageSize=500` : null;
  }
  return ids;
}

test('partitions cover a collection exactly once, each paged by its own cursor', async () => {
  const everything = await walk('/studentSectionAssociations?pageSize=500');
  expect(everything.length).toBeGreaterThan(4000);
  const res = await get('/studentSectionAssociations/partitions?number=4');
  expect(res.status).toBe(200);
  const { pageTokens } = (await res.json()) as { pageTokens: string[] };
  expect(pageTokens).toHaveLength(4);
  const parts = await Promise.all(pageTokens.map((t) => walk(`/studentSectionAssociations?pageToken=${t}&pageSize=500`)));
  for (const part of parts) expect(part.length).toBeGreaterThan(500);
  const all = parts.flat();
  expect(new Set(all).size).toBe(all.length);
  expect([...all].sort()).toEqual([...everything].sort());
});

test('ranges follow the order of the view\'s own key, whatever its type (school associations: role row numbers)', async () => {
  const everything = await walk('/studentSchoolAssociations?pageSize=500', 'studentSchoolAssociations');
  const { pageTokens } = (await (await get('/studentSchoolAssociations/partitions?number=2')).json()) as { pageTokens: string[] };
  expect(pageTokens).toHaveLength(2);
  const parts = await Promise.all(pageTokens.map((t) => walk(`/studentSchoolAssociations?pageToken=${t}&pageSize=500`, 'studentSchoolAssociations')));
  expect(parts.flat().sort()).toEqual([...everything].sort());
});

test('a small collection is one partition; filters narrow what is partitioned', async () => {
  const small = (await (await get('/schools/partitions?Number=8')).json()) as { pageTokens: string[] };
  expect(small.pageTokens).toHaveLength(1);
  const schools = await get(`/schools?pageToken=${small.pageTokens[0]}&pageSize=500`);
  expect(((await schools.json()) as unknown[]).length).toBe(2);
  expect(schools.headers.get('next-page-token')).toBeNull();
  const none = (await (await get('/students/partitions?number=3&studentUniqueId=nobody')).json()) as { pageTokens: string[] };
  expect(none.pageTokens).toEqual([]);
});

test('bad requests are 400 in Ed-Fi\'s shape', async () => {
  for (const query of ['number=0', 'number=101', 'number=x', '', 'number=2&limit=10', 'number=2&pageToken=abc']) {
    const res = await get(`/students/partitions?${query}`);
    expect(res.status, query).toBe(400);
    expect(((await res.json()) as { type: string }).type).toMatch(/^urn:ed-fi:api:bad-request/);
  }
  expect((await get('/students?pageToken=bm90LWEtdG9rZW4&pageSize=10')).status).toBe(400);
});
