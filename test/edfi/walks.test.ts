import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { RecordBatch } from '../../src/sync/records.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { defaults } from '../support/roster.ts';

/**
 * Collections whose items come from two kinds of rows (studentEducationOrganizationAssociations:
 * those sent through Ed-Fi, and those derived from OneRoster demographics) page through both, each
 * item once, in id order, by offset and by cursor.
 */

const ORIGIN = 'https://gw.example';
const ED = `${ORIGIN}/data/v3/ed-fi`;
const STUDENTS = 13;
const SENT = [2, 7, 11];
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let token: string;

const get = async (path: string) => {
  const res = await app.request(`${ED}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status, path).toBe(200);
  return { items: (await res.json()) as { id: string; studentReference: { studentUniqueId: string } }[], next: res.headers.get('next-page-token') };
};

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-edfi-walks' }), tokens: new TokenIssuer('s'.repeat(40), 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
  const client = await createClient(db.orm, { name: 'walker', scopes: [scopes.edfiWrite] });
  const res = await app.request(`${ORIGIN}/oauth/token`, {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
  });
  token = ((await res.json()) as { access_token: string }).access_token;
  const ids = Array.from({ length: STUDENTS }, (_, i) => `u${i}`);
  const batches: RecordBatch[] = [
    { entity: 'org', records: [{ sourcedId: 's1', name: 'Springfield High', type: 'school', identifier: '101' }] },
    { entity: 'user', records: ids.map((id, i) => ({ sourcedId: id, enabledUser: true, givenName: 'S', familyName: `${i}`, identifier: `S${i}`,
      roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1' }] })) },
    { entity: 'demographics', records: ids.map((id, i) => ({ sourcedId: id, sex: i % 2 ? 'female' : 'male' })) },
  ] as RecordBatch[];
  const run = await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches });
  expect(run.status).toBe('succeeded');
  for (const i of SENT) {
    const sent = await app.request(`${ED}/studentEducationOrganizationAssociations`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ educationOrganizationReference: { educationOrganizationId: 101 }, studentReference: { studentUniqueId: `S${i}` },
        sexDescriptor: 'uri://ed-fi.org/SexDescriptor#Female' }),
    });
    expect(sent.status).toBe(201);
  }
});
afterAll(async () => {
  await db?.drop();
});

describe('a collection of sent and derived items', () => {
  test('one page holds every item once, in id order', async () => {
    const { items } = await get('/studentEducationOrganizationAssociations?limit=500');
    expect(items.map((x) => x.studentReference.studentUniqueId).sort()).toEqual(Array.from({ length: STUDENTS }, (_, i) => `S${i}`).sort());
    const ids = items.map((x) => x.id);
    expect(ids).toEqual([...ids].sort());
  });

  test('offset pages and cursor pages walk the same order', async () => {
    const all = (await get('/studentEducationOrganizationAssociations?limit=500')).items.map((x) => x.id);
    // Last page first: no page read before tells where the next begins, so each walks past the ones before it.
    const pages: string[][] = [];
    for (let offset = STUDENTS - (STUDENTS % 3); offset >= 0; offset -= 3) pages.unshift((await get(`/studentEducationOrganizationAssociations?limit=3&offset=${offset}`)).items.map((x) => x.id));
    expect(pages.flat()).toEqual(all);
    const byCursor: string[] = [];
    let page = await get('/studentEducationOrganizationAssociations?pageSize=4');
    for (;;) {
      byCursor.push(...page.items.map((x) => x.id));
      if (!page.next) break;
      page = await get(`/studentEducationOrganizationAssociations?pageSize=4&pageToken=${page.next}`);
    }
    expect(byCursor).toEqual(all);
  });

  test('a derived item is found by its id, and a sent one stands in for it', async () => {
    const { items } = await get('/studentEducationOrganizationAssociations?limit=500');
    for (const item of items) {
      const res = await app.request(`${ED}/studentEducationOrganizationAssociations/${item.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { studentReference: unknown }).studentReference).toEqual(item.studentReference);
    }
    const sent = items.filter((x) => SENT.map((i) => `S${i}`).includes(x.studentReference.studentUniqueId));
    expect(sent.map((x) => (x as unknown as { sexDescriptor: string }).sexDescriptor)).toEqual(SENT.map(() => 'uri://ed-fi.org/SexDescriptor#Female'));
  });
});
