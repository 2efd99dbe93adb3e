import { sql, type RawBuilder } from 'kysely';
import { beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { RecordBatch } from '../../src/sync/records.ts';
import { edfiResources } from '../../standards/edfi/resources.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults } from '../support/roster.ts';

/**
 * Collections whose items come from two kinds of rows (those sent through Ed-Fi, and those derived
 * from OneRoster rows: studentEducationOrganizationAssociations from demographics, courseOfferings
 * from classes) page through both, each item once, in id order, by offset, cursor and partition.
 */

const ORIGIN = 'https://gw.example';
const ED = `${ORIGIN}/data/v3/ed-fi`;
const STUDENTS = 13;
const SENT = [2, 7, 11];
const TERMS = ['t1', 't2'];
const COURSES = ['alg', 'bio', 'chem'];
const db = useTestDatabase();
let app: ReturnType<typeof createApp>;
let token: string;

const get = async (path: string) => {
  const res = await app.request(`${ED}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status, path).toBe(200);
  return { items: (await res.json()) as { id: string; studentReference: { studentUniqueId: string } }[], next: res.headers.get('next-page-token') };
};

beforeAll(async () => {
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
    { entity: 'org', records: [{ sourcedId: 's1', name: 'Springfield High', type: 'school', identifier: '101' }, { sourcedId: 's2', name: 'Shelbyville High', type: 'school', identifier: '102' }] },
    { entity: 'academicSession', records: TERMS.map((t, i) => ({ sourcedId: t, title: `Term ${i}`, type: 'term', startDate: '2024-08-15', endDate: '2024-12-20', schoolYear: '2025' })) },
    { entity: 'course', records: COURSES.map((c) => ({ sourcedId: c, title: c, courseCode: c.toUpperCase(), orgSourcedId: 's1' })) },
    // Two classes of each course, school and term: one derived courseOffering each.
    { entity: 'class', records: COURSES.flatMap((c) => ['s1', 's2'].flatMap((school) => TERMS.flatMap((t) => [1, 2].map((n) => ({
      sourcedId: `${c}-${school}-${t}-${n}`, title: `${c} ${n}`, courseSourcedId: c, schoolSourcedId: school, termSourcedIds: [t], classType: 'scheduled' }))))) },
    { entity: 'user', records: [
      ...ids.map((id, i) => ({ sourcedId: id, enabledUser: true, givenName: 'S', familyName: `${i}`, identifier: `S${i}`,
        roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1' }] })),
      // A teacher at both schools (two staff roles, one staff member) and a guardian.
      { sourcedId: 't1', enabledUser: true, givenName: 'T', familyName: 'Teacher', identifier: 'T1',
        roles: [{ roleType: 'primary', role: 'teacher', orgSourcedId: 's1' }, { roleType: 'secondary', role: 'teacher', orgSourcedId: 's2' }] },
      { sourcedId: 'g1', enabledUser: true, givenName: 'G', familyName: 'Guardian', identifier: 'G1',
        roles: [{ roleType: 'primary', role: 'guardian', orgSourcedId: 's1' }] },
    ] },
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
  // A rostered student enrolled at the second school through Ed-Fi: their roles are rewritten by that door.
  const enrolled = await app.request(`${ED}/studentSchoolAssociations`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ studentReference: { studentUniqueId: 'S4' }, schoolReference: { schoolId: 102 }, entryDate: '2024-08-19',
      entryGradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Ninth grade' }),
  });
  expect(enrolled.status).toBe(201);
});

describe.each([
  ['studentEducationOrganizationAssociations', STUDENTS],
  ['courseOfferings', COURSES.length * 2 * TERMS.length],
])('%s: sent and derived items', (resource, count) => {
  test('one page holds every item once, in id order', async () => {
    const ids = (await get(`/${resource}?limit=500`)).items.map((x) => x.id);
    expect(ids).toHaveLength(count);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(count);
    expect((await get(`/${resource}?limit=500&minChangeVersion=1`)).items.map((x) => x.id)).toEqual(ids);
  });

  test('offset pages, cursor pages and partitions walk the same order', async () => {
    const all = (await get(`/${resource}?limit=500`)).items.map((x) => x.id);
    // Last page first: no page read before tells where the next begins, so each walks past the ones before it.
    const pages: string[][] = [];
    for (let offset = count - (count % 3); offset >= 0; offset -= 3) pages.unshift((await get(`/${resource}?limit=3&offset=${offset}`)).items.map((x) => x.id));
    expect(pages.flat()).toEqual(all);
    const byCursor: string[] = [];
    let page = await get(`/${resource}?pageSize=4`);
    for (;;) {
      byCursor.push(...page.items.map((x) => x.id));
      if (!page.next) break;
      page = await get(`/${resource}?pageSize=4&pageToken=${page.next}`);
    }
    expect(byCursor).toEqual(all);
    const partitions = await app.request(`${ED}/${resource}/partitions?number=2`, { headers: { authorization: `Bearer ${token}` } });
    expect(partitions.status).toBe(200);
    const { pageTokens } = (await partitions.json()) as { pageTokens: string[] };
    const byPartition: string[] = [];
    for (const t of pageTokens) byPartition.push(...(await get(`/${resource}?pageSize=500&pageToken=${t}`)).items.map((x) => x.id));
    expect(byPartition).toEqual(all);
  });

  test('every item is found by its id', async () => {
    for (const item of (await get(`/${resource}?limit=500`)).items) {
      const res = await app.request(`${ED}/${resource}/${item.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(item);
    }
  });
});

test('a studentEducationOrganizationAssociation sent through Ed-Fi stands in for the derived one', async () => {
  const { items } = await get('/studentEducationOrganizationAssociations?limit=500');
  const bySex = Object.fromEntries(items.map((x) => [x.studentReference.studentUniqueId, (x as unknown as { sexDescriptor: string }).sexDescriptor]));
  // Derived: the OneRoster sex (male for even students); sent: female.
  expect(SENT.map((i) => bySex[`S${i}`])).toEqual(SENT.map(() => 'uri://ed-fi.org/SexDescriptor#Female'));
  expect(bySex.S4).toBe('uri://ed-fi.org/SexDescriptor#Male');
});

test('the parts a collection is walked by give the rows, ids and etags its view gives', async () => {
  // A page's rows (and the etags its items are kept by) are read from the walk, its items from the view.
  const k = db.orm.em.fork().getKysely();
  const rows = async (from: RawBuilder<unknown>) => (await sql<{ seq: string; id: string; etag: string; status: string }>`
    select v.seq::text as seq, v.id::text as id, v.etag, v.status from (${from}) v`.execute(k)).rows;
  const bySeq = (a: { seq: string }, b: { seq: string }) => a.seq.localeCompare(b.seq);
  const walked = edfiResources.filter((r) => r.view.pages);
  expect(walked.map((r) => r.name)).toEqual(expect.arrayContaining(['students', 'courseOfferings', 'studentEducationOrganizationAssociations']));
  for (const resource of walked) {
    const viewRows = (await rows(resource.view.from)).sort(bySeq);
    const partRows = (await Promise.all(resource.view.pages!.map(rows))).flat().sort(bySeq);
    expect(partRows, resource.name).toEqual(viewRows);
  }
  // Roles carry their person's Ed-Fi id (the kind walks read it), whichever door wrote them.
  const { rows: [roles] } = await sql<{ n: number; wrong: number }>`select count(*)::int as n,
    count(*) filter (where r.user_edfi_id is distinct from u.edfi_id)::int as wrong
    from user_role r join "user" u on u.sourced_id = r.user_sourced_id`.execute(k);
  expect(roles).toEqual({ n: STUDENTS + 1 + 2 + 1, wrong: 0 });
  const count = async (name: string) => (await rows(edfiResources.find((r) => r.name === name)!.view.from)).length;
  expect([await count('courseOfferings'), await count('students'), await count('staffs'), await count('contacts')])
    .toEqual([COURSES.length * 2 * TERMS.length, STUDENTS, 1, 1]);
});
