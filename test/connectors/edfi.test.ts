import { sql } from 'kysely';
import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { edfiConnector } from '../../connectors/edfi/index.ts';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { scanRecords } from '../../src/sync/read.ts';
import type { EntityName } from '../../src/sync/records.ts';
import { getRun } from '../../src/sync/runs.ts';
import { saveSource, syncSource } from '../../src/sync/sources.ts';
import { activeIds, useConnectorHarness, written } from '../support/connectors.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { edfiDistrict } from '../support/edfi-district.ts';

const { server, db, waits, deps } = useConnectorHarness(edfiConnector, './data/test-edfi-source');
const UPSTREAM = 'https://ods.example';
const ED = `${UPSTREAM}/data/v3/ed-fi`;
const ENTITIES: EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'demographics', 'enrollment'];

/** A second Rostergate, in a database of its own, loaded with a generated district through its Ed-Fi door. */
let upstream: { db: TestDatabase; app: ReturnType<typeof createApp>; clientId: string; secret: string; token: string };

async function upstreamToken(clientId: string, secret: string) {
  const res = await upstream.app.request(`${UPSTREAM}/oauth/token`, {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

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
  const app = createApp({
    orm: updb.orm, config: loadConfig({ DATA_DIR: './data/test-edfi-upstream' }), tokens: new TokenIssuer('u'.repeat(40), 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
  upstream = { db: updb, app, clientId: '', secret: '', token: '' };
  const writer = await createClient(updb.orm, { name: 'loader', scopes: [scopes.edfiWrite] });
  upstream.token = await upstreamToken(writer.clientId, writer.secret);
  for (const [resource, body] of edfiDistrict({ schools: 2, studentsPerSchool: 25, sectionsPerSchool: 4 })) await edfi('POST', `/${resource}`, body);
  const reader = await createClient(updb.orm, { name: 'downstream gateway', scopes: [scopes.edfiRead] });
  upstream.clientId = reader.clientId;
  upstream.secret = reader.secret;
}, 120_000);
afterAll(async () => {
  await upstream?.db.drop();
});

const toUpstream = () => http.all(`${UPSTREAM}/*`, ({ request }) => upstream.app.request(request));
const register = (extra: Record<string, unknown> = {}, id?: number) =>
  saveSource(deps(), { name: 'ods', kind: 'edfi', settings: { baseUrl: UPSTREAM, clientId: upstream.clientId, clientSecret: upstream.secret, pageSize: 20, ...extra } }, id);
const issues = async (runId: number) => (await getRun(db.orm, runId, 1000))!.issueList;

/** Every row of an entity (tombstones too), Ed-Fi key and attributes included; provenance (nativeKey) left out. */
async function store(orm: TestDatabase['orm'], entity: EntityName) {
  const rows = new Map<string, unknown>();
  for await (const page of scanRecords(orm.em.fork(), entity, { since: new Date(0) })) {
    for (const { record, status } of page) {
      const { nativeKey: _n, ...rest } = record;
      rows.set(record.sourcedId as string, { ...rest, status });
    }
  }
  return rows;
}

const expectEqualStores = async () => {
  for (const entity of ENTITIES) expect(await store(db.orm, entity), entity).toEqual(await store(upstream.db.orm, entity));
};

describe('gateway to gateway', () => {
  test('a full pull makes the two stores equal; change queries bring a change, a key change and deletions and rewrite nothing else', { timeout: 120_000 }, async () => {
    server.use(toUpstream());
    const source = await register();
    const first = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(first, first.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(await issues(first.runId)).toEqual([]);
    expect((await activeIds(db, 'enrollment')).length).toBe(2 * 25 * 2 + 2 * 4);
    await expectEqualStores();

    // Upstream: a student renamed; a section's key changed (and with it its associations' keys); an enrollment deleted; a contact unlinked and deleted.
    const [student] = await items('/students?studentUniqueId=S10003');
    const { id: studentId, _etag, _lastModifiedDate, ...body } = student!;
    await edfi('PUT', `/students/${studentId}`, { ...body, firstName: 'Renamed' });
    const [section] = await items('/sections?sectionIdentifier=BIO-1-02');
    const { id: sectionId, _etag: _e2, _lastModifiedDate: _l2, ...sectionBody } = section!;
    await edfi('PUT', `/sections/${sectionId}`, { ...sectionBody, sectionIdentifier: 'BIO-1-02B', sectionName: 'Biology, moved' });
    const [enrollment] = await items('/studentSectionAssociations?studentUniqueId=S20004');
    await edfi('DELETE', `/studentSectionAssociations/${enrollment!.id}`);
    const [contactLink] = await items('/studentContactAssociations?studentUniqueId=S10001');
    await edfi('DELETE', `/studentContactAssociations/${contactLink!.id}`);
    const [contact] = await items('/contacts?contactUniqueId=CS10001');
    await edfi('DELETE', `/contacts/${contact!.id}`);

    const delta = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(delta, delta.error).toMatchObject({ status: 'succeeded' });
    expect(await issues(delta.runId)).toEqual([]);
    const { rows } = await sql<{ bulk_scope: string[] }>`select bulk_scope from sync_run where id = ${delta.runId}`.execute(db.orm.em.fork().getKysely());
    expect(rows[0]!.bulk_scope).toEqual([]);
    // The renamed student, the student who lost a contact and the contact; the section (same sourcedId, new key) and its
    // associations (new keys); the deleted enrollment.
    const moved = (await items(`/studentSectionAssociations?sectionIdentifier=BIO-1-02B`)).length + (await items(`/staffSectionAssociations?sectionIdentifier=BIO-1-02B`)).length;
    expect(moved).toBeGreaterThan(1);
    expect(delta.counts.user).toMatchObject({ updated: 2, created: 0, tombstoned: 1 });
    expect(delta.counts.class).toMatchObject({ updated: 1, created: 0, tombstoned: 0 });
    expect(delta.counts.enrollment).toMatchObject({ tombstoned: 1, created: 0, updated: moved });
    expect(written(delta.counts)).toBe(5 + moved);
    await expectEqualStores();

    const again = (await syncSource(deps(), 'ods', 'schedule'))!;
    expect(again, again.error).toMatchObject({ status: 'succeeded' });
    expect(written(again.counts)).toBe(0);
    // A full run finds the same: the section that changed key keeps its sourcedId.
    await register({ fullSyncHours: 0 }, source.id);
    const full = (await syncSource(deps(), 'ods', 'manual'))!;
    expect(full, full.error).toMatchObject({ status: 'succeeded', complete: true });
    expect(Object.fromEntries(Object.entries(full.counts).filter(([, c]) => written({ c }) > 0))).toEqual({});
    expect(written(full.counts)).toBe(0);
  });
});
