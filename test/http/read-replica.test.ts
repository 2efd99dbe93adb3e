import { afterAll, beforeAll, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openOrm, type Orm } from '../../src/db/orm.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { BASE_PATH } from '../../standards/oneroster/rest/operations.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

/**
 * DATABASE_READ_URL: OneRoster reads go to the read side. A second database stands in for the
 * replica with different content, so the test sees which side answered.
 */

let primary: TestDatabase;
let replica: TestDatabase;
let orm: Orm;

beforeAll(async () => {
  [primary, replica] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  await reconcile(primary.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
  await reconcile(replica.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: withRecords(smallDistrict(), 'org', (orgs) => orgs.map((o) => ({ ...o, name: `${'name' in o ? o.name : ''} (replica)` }))) });
  orm = await openOrm(primary.url, { readUrl: replica.url });
});
afterAll(async () => {
  await orm?.close(true);
  await Promise.all([primary?.drop(), replica?.drop()]);
});

test('OneRoster reads (lists, single records, prepared or not) come from the read side; writes and token checks from the primary', async () => {
  const app = createApp({ orm, config: loadConfig({ DATA_DIR: './data/test-replica' }), tokens: new TokenIssuer('s'.repeat(40), 600), credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent') });
  // The client exists on the primary only: authentication reads the primary.
  const client = await createClient(primary.orm, { name: 'vendor', scopes: [scopes.roster] });
  const res = await app.request('/oauth/token', {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
  });
  const token = ((await res.json()) as { access_token: string }).access_token;
  const get = async (path: string) => (await app.request(`${BASE_PATH}${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<Record<string, any>>;
  const list = await get('/orgs');
  expect(list.orgs.length).toBeGreaterThan(0);
  expect(list.orgs.every((o: { name: string }) => o.name.endsWith('(replica)'))).toBe(true);
  expect((await get(`/orgs/${list.orgs[0].sourcedId}`)).org.name).toMatch(/\(replica\)$/);
  expect((await get(`/orgs?filter=${encodeURIComponent("type='school'")}`)).orgs.every((o: { name: string }) => o.name.endsWith('(replica)'))).toBe(true);
});
