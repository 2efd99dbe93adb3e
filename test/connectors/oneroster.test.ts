import { sql } from 'kysely';
import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { oneRosterConnector } from '../../connectors/oneroster/index.ts';
import { percent, sign, signatureBase } from '../../connectors/oneroster/oauth1.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { getRun } from '../../src/sync/runs.ts';
import { getSource, saveSource, syncSource } from '../../src/sync/sources.ts';
import type { EntityName, UserRecord } from '../../src/sync/records.ts';
import { generateDistrict } from '../../bench/generate.ts';
import { activeIds, storedRows, useConnectorHarness, written } from '../support/connectors.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { accessToken, gatewayApp } from '../support/gateway.ts';
import { defaults } from '../support/roster.ts';
import { FakeProvider, providerRoster } from '../msw/oneroster.ts';

const { server, db, waits, deps } = useConnectorHarness(oneRosterConnector, './data/test-oneroster');
const UPSTREAM = 'https://upstream.example';
const ROOT = `${UPSTREAM}/ims/oneroster/rostering/v1p2`;
const ENTITIES: EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'enrollment', 'demographics'];

/** A second Rostergate, in a database of its own, serving a generated district. */
let upstream: { db: TestDatabase; app: ReturnType<typeof gatewayApp>; clientId: string; secret: string };
beforeAll(async () => {
  const updb = await createTestDatabase({ contextName: 'upstream' });
  const app = gatewayApp(updb.orm, './data/test-oneroster-upstream', 'u'.repeat(40));
  const run = await reconcile(updb.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: generateDistrict({ scale: 'small', batchSize: 1000 }) });
  expect(run.status, run.error).toBe('succeeded');
  const client = await createClient(updb.orm, { name: 'downstream gateway', scopes: [scopes.roster, scopes.rosterDemographics] });
  upstream = { db: updb, app, clientId: client.clientId, secret: client.secret };
}, 120_000);
afterAll(async () => {
  await upstream?.db.drop();
});

const toUpstream = () => http.all(`${UPSTREAM}/*`, ({ request }) => upstream.app.request(request));
const register = (extra: Record<string, unknown> = {}) =>
  saveSource(deps(), { name: 'sis', kind: 'oneroster', settings: { baseUrl: ROOT, clientId: upstream.clientId, clientSecret: upstream.secret, pageSize: 400, ...extra } });
const issues = async (runId: number) => (await getRun(db.orm, runId, 1000))!.issueList;

/** Every row of an entity (tombstones too) as OneRoster carries it: what is not OneRoster's (provenance, Ed-Fi attributes) left out. */
const store = (orm: TestDatabase['orm'], entity: EntityName) => storedRows(orm, entity, { omit: ['nativeKey', 'edfiKey', 'edfi'] });

describe('gateway to gateway', () => {
  test('a full pull makes the two stores equal; an incremental run brings a change and a deletion and rewrites nothing else', { timeout: 120_000 }, async () => {
    server.use(toUpstream());
    await register();
    const first = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(first, first.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(first.runId)).toEqual([]);
    for (const entity of ENTITIES) expect(await store(db.orm, entity), entity).toEqual(await store(upstream.db.orm, entity));

    // Upstream: one user changes, one enrollment goes.
    const [user] = (await store(upstream.db.orm, 'user')).values() as Iterable<UserRecord & { status: string }>;
    const { status: _s, ...changed } = { ...user!, email: 'changed@example.org' };
    const [enrollmentId] = (await store(upstream.db.orm, 'enrollment')).keys();
    await new Promise((r) => setTimeout(r, 5));
    expect((await reconcile(upstream.db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [
      { entity: 'user', records: [changed as UserRecord] },
      { entity: 'enrollment', records: [{ sourcedId: enrollmentId!, status: 'tobedeleted' }] },
    ] })).status).toBe('succeeded');

    const delta = (await syncSource(deps(), 'sis', 'schedule'))!;
    expect(delta).toMatchObject({ status: 'succeeded' });
    expect(delta.counts.user).toMatchObject({ updated: 1, created: 0, tombstoned: 0 });
    expect(delta.counts.enrollment).toMatchObject({ tombstoned: 1, created: 0, updated: 0 });
    expect(written(delta.counts)).toBe(2);
    for (const entity of ENTITIES) expect(await store(db.orm, entity), entity).toEqual(await store(upstream.db.orm, entity));
    // Only the changes were asked for.
    const { rows } = await sql<{ bulk_scope: string[] }>`select bulk_scope from sync_run where id = ${delta.runId}`.execute(db.orm.em.fork().getKysely());
    expect(rows[0]!.bulk_scope).toEqual([]);

    const again = (await syncSource(deps(), 'sis', 'schedule'))!;
    expect(written(again.counts)).toBe(0);
    const full = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(written(full.counts)).toBe(0);
  });

  test('the token URL comes from the discovery document; client authentication in the body works too', async () => {
    server.use(toUpstream());
    await register({ clientAuth: 'post', demographics: false, pageSize: 10_000 });
    const run = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(run.status, run.error).toBe('succeeded');
    expect(run.counts.demographics!.created).toBe(0);
    expect((await activeIds(db, 'user')).length).toBe(1000);
  });

  test('a refused demographics scope is skipped with an issue, and the rest lands', async () => {
    const limited = await createClient(upstream.db.orm, { name: 'no demographics', scopes: [scopes.roster] });
    server.use(toUpstream());
    await saveSource(deps(), { name: 'sis', kind: 'oneroster', settings: { baseUrl: ROOT, clientId: limited.clientId, clientSecret: limited.secret, pageSize: 2000 } });
    const run = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(run.runId)).toEqual([expect.objectContaining({ entity: 'demographics', code: 'scope_skipped', severity: 'warning' })]);
    expect((await activeIds(db, 'enrollment')).length).toBeGreaterThan(5000);
  });
});

describe('the upstream side of a pull', () => {
  test('pages of more than 1000 rows (bulk readers) are not stored in the render cache; smaller ones are', async () => {
    const token = await accessToken(upstream.app, { clientId: upstream.clientId, secret: upstream.secret }, UPSTREAM);
    const db = upstream.db.orm.em.fork().getKysely();
    const cached = async () => (await sql<{ n: number }>`select count(*)::int as n from oneroster_cache where resource = 'enrollment'`.execute(db)).rows[0]!.n;
    await sql`delete from oneroster_cache`.execute(db);
    const page = async (limit: number, root = ROOT) => {
      const answer = await upstream.app.request(`${root}/enrollments?limit=${limit}`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await answer.json()) as { enrollments: unknown[] }).enrollments).toHaveLength(limit);
      await new Promise((r) => setTimeout(r, 100));
    };
    await page(2000);
    expect(await cached()).toBe(0);
    // Under another host name: rows small pages served before are also in the gateway's memory, by the base they were served under.
    await page(10, ROOT.replace(new URL(ROOT).origin, 'https://other.example'));
    expect(await cached()).toBe(10);
  });
});

describe('provider quirks', () => {
  const P = 'https://sis.example';
  const fake = (options: Partial<ConstructorParameters<typeof FakeProvider>[2]> = {}, version: '1.2' | '1.1' = '1.2') =>
    new FakeProvider(P, providerRoster(version), { version, auth: 'oauth2', clientId: 'cid', clientSecret: 'secret', ...options });
  const add = (provider: FakeProvider, extra: Record<string, unknown> = {}) => {
    server.use(http.all(`${P}/*`, ({ request }) => provider.fetch(request)));
    return saveSource(deps(), { name: 'sis', kind: 'oneroster', settings: { baseUrl: provider.root, clientId: 'cid', clientSecret: 'secret', tokenUrl: `${P}/token`, pageSize: 1, ...extra } });
  };

  test('JSON booleans, comma lists, numbers, bare arrays, relative links, no paging headers, unknown fields: read, and told once each', async () => {
    const provider = fake({ bare: ['courses'], relativeLinks: true, paging: { classes: 'none', users: 'total' } });
    await add(provider);
    const run = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    const found = (await issues(run.runId)).map((i) => `${i.entity}:${i.code}`).sort();
    // Once per kind and collection, however many rows or pages show it.
    expect(found).toEqual([
      'academicSession:provider_relative_link', 'class:provider_string_list', 'course:provider_missing_envelope', 'demographics:provider_json_boolean',
      'enrollment:provider_json_boolean', 'enrollment:provider_relative_link', 'org:provider_relative_link', 'org:provider_unquoted_value',
      'user:provider_json_boolean', 'user:provider_string_list',
    ].sort());
    expect(await db.query(sql`select identifier from org where sourced_id = 's1'`)).toEqual([{ identifier: '101' }]);
    expect(await db.query(sql`select periods from class`)).toEqual([{ periods: ['1', '2'] }]);
    expect(await db.query(sql`select sourced_id, "primary" from enrollment order by sourced_id`)).toEqual([{ sourced_id: 'e1', primary: true }, { sourced_id: 'e2', primary: false }]);
    expect(await db.query(sql`select hispanic_or_latino_ethnicity as h, white from demographics`)).toEqual([{ h: false, white: true }]);
    // The provider's tobedeleted user never landed; the rest did, page by page (limit 1).
    expect(await activeIds(db, 'user')).toEqual(['st1', 't1']);
    // Without paging headers a full page (1 of limit 1) asks for the next; the empty one ends it.
    expect(provider.requests.filter((r) => r.includes('/classes'))).toEqual([
      'GET /ims/oneroster/rostering/v1p2/classes?limit=1&offset=0', 'GET /ims/oneroster/rostering/v1p2/classes?limit=1&offset=1',
    ]);
  });

  test('429 and 5xx are retried; an expired token is replaced once; a provider that ignores offset is an error, not a loop', async () => {
    const provider = fake();
    await add(provider, { pageSize: 100 });
    let calls = 0;
    server.use(http.get(`${provider.root}/orgs`, () => {
      calls++;
      if (calls === 1) return new HttpResponse('slow down', { status: 429, headers: { 'retry-after': '2' } });
      if (calls === 2) return new HttpResponse('<html>bad gateway</html>', { status: 502 });
      return undefined;
    }));
    const run = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(run.status, run.error).toBe('succeeded');
    expect(waits).toContain(2000);
    // The provider forgets every token: the next request answers 401, the connector gets a new one.
    provider.tokens.clear();
    const again = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(again.status).toBe('succeeded');
    expect(provider.requests.filter((r) => r.startsWith('POST /token')).length).toBe(2);

    server.use(http.get(`${provider.root}/users`, () => HttpResponse.json({ users: [{ sourcedId: 'x' }] }, { headers: { 'x-total-count': '5' } })));
    const loop = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(loop).toMatchObject({ status: 'partial', complete: false });
    expect(loop.error).toMatch(/repeats the previous one|ignores offset/);
    expect(loop.counts.user!.tombstoned).toBe(0);
  });

  test('OneRoster 1.1 with OAuth 1.0a signatures: roles from role and orgs, administrators by the kind of org', async () => {
    const provider = fake({ auth: 'oauth1' }, '1.1');
    await add(provider, { auth: 'oauth1', tokenUrl: undefined, pageSize: 50 });
    const run = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(run, run.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(provider.requests.some((r) => r.startsWith('POST /token'))).toBe(false);
    const roles = await db.query(sql`select user_sourced_id as u, role, role_type, org_sourced_id as org from user_role order by user_sourced_id, role_type`);
    expect(roles).toEqual([
      { u: 'a1', role: 'districtAdministrator', role_type: 'primary', org: 'd1' },
      { u: 'a1', role: 'siteAdministrator', role_type: 'secondary', org: 's1' },
      { u: 'st1', role: 'student', role_type: 'primary', org: 's1' },
      { u: 't1', role: 'teacher', role_type: 'primary', org: 's1' },
    ]);
    // A wrong consumer secret: the provider refuses every signature; the source waits for a person, nothing is tombstoned.
    await saveSource(deps(), { name: 'sis', kind: 'oneroster', settings: { baseUrl: provider.root, auth: 'oauth1', clientId: 'cid', clientSecret: 'wrong' } }, (await db.query(sql<{ id: number }>`select id from source`))[0]!.id);
    const refused = (await syncSource(deps(), 'sis', 'manual'))!;
    expect(refused).toMatchObject({ status: 'partial', complete: false });
    expect(refused.error).toMatch(/refused the OAuth 1.0a signature/);
    expect((await getSource(deps(), 'sis'))!.state).toBe('reauthorize');
    expect(await activeIds(db, 'user')).toEqual(['a1', 'st1', 't1']);
  });
});

describe('OAuth 1.0a signing', () => {
  test('the RFC 5849 §3.4.1.1 signature base string', () => {
    const url = new URL('http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b');
    const params: [string, string][] = [
      ['oauth_consumer_key', '9djdj82h48djs9d2'], ['oauth_token', 'kkk9d7dh3k39sjv7'], ['oauth_signature_method', 'HMAC-SHA1'],
      ['oauth_timestamp', '137131201'], ['oauth_nonce', '7d8f3e4a'], ['c2', ''], ['a3', '2 q'],
    ];
    expect(signatureBase('POST', url, params)).toBe('POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7');
    expect(percent("a!'()*b ~")).toBe('a%21%27%28%29%2Ab%20~');
  });

  test('a known HMAC-SHA1 signature (Twitter\'s published example)', () => {
    const url = new URL('https://api.twitter.com/1.1/statuses/update.json?include_entities=true');
    const { signature } = sign('POST', url, {
      consumerKey: 'xvz1evFS4wEEPTGEFPHBog', consumerSecret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
      token: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb', tokenSecret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE',
    }, { nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg', timestamp: 1318622958, body: [['status', 'Hello Ladies + Gentlemen, a signed OAuth request!']] });
    expect(signature).toBe('hCtSmYh+iHYCEqBWrE7C7hYmtUk=');
  });
});
