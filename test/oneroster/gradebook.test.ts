import { existsSync, readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { RecordBatch, UserRecord } from '../../src/sync/records.ts';
import { GRADEBOOK_DISCOVERY_PATH, gradebookSpecFile } from '../../standards/oneroster/rest/discovery.ts';
import { GRADEBOOK_PATH, gradebookOperations } from '../../standards/oneroster/rest/gradebook-operations.ts';
import { BASE_PATH } from '../../standards/oneroster/rest/operations.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { loadSpec } from '../support/oneroster-oas.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

const spec = loadSpec('gradebookservice.yaml');
const ORIGIN = 'https://gw.example';
const ONEROSTER = `${ORIGIN}/ims/oneroster`;
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
const tokens: Record<string, string> = {};

/** The small district with student emails and a grading period, and a gradebook: a category, a scale, a lineItem and a result in cl1. */
function district(): RecordBatch[] {
  let batches = withRecords(smallDistrict(), 'academicSession', (s) => [
    ...s,
    { sourcedId: 'gp1', title: 'Quarter 1', type: 'gradingPeriod', startDate: '2024-08-15', endDate: '2024-10-15', schoolYear: '2025', parentSourcedId: 't1' },
  ]);
  batches = withRecords(batches, 'user', (users) => (users as UserRecord[]).map((u) => ({ ...u, email: u.email ?? `${u.username}@example.org` })));
  return [
    ...batches,
    { entity: 'category', records: [{ sourcedId: 'cat-hw', title: 'Homework', weight: 0.25 }, { sourcedId: 'cat-test', title: 'Tests', weight: 0.75 }] },
    {
      entity: 'scoreScale',
      records: [{ sourcedId: 'ss1', title: 'Letter grades', type: 'letter', classSourcedId: 'cl1', courseSourcedId: 'c-math', scoreScaleValue: [{ itemValueLHS: '90', itemValueRHS: 'A' }, { itemValueLHS: '80', itemValueRHS: 'B' }] }],
    },
    {
      entity: 'lineItem',
      records: [{
        sourcedId: 'li-seed', title: 'Chapter 1 homework', assignDate: '2024-09-01T08:00:00.000Z', dueDate: '2024-09-08T23:59:00.000Z', classSourcedId: 'cl1',
        schoolSourcedId: 's1', categorySourcedId: 'cat-hw', gradingPeriodSourcedId: 'gp1', scoreScaleSourcedId: 'ss1', resultValueMin: 0, resultValueMax: 100,
        learningObjectiveSet: [{ source: 'case', learningObjectiveIds: ['lo-1', 'lo-2'] }],
      }],
    },
    {
      entity: 'result',
      records: [{
        sourcedId: 'r-seed', lineItemSourcedId: 'li-seed', studentSourcedId: 'u-bart', scoreStatus: 'fully graded', score: 92.5, scoreDate: '2024-09-09',
        textScore: 'A-', comment: 'Good work', late: false, learningObjectiveSet: [{ source: 'case', learningObjectiveResults: [{ learningObjectiveId: 'lo-1', score: 3 }] }],
      }],
    },
  ];
}

const auth = (token: string | null) => (token ? { Authorization: `Bearer ${token}` } : {});
const get = (path: string, token: string | null = tokens.full!) => app.request(`${ORIGIN}${GRADEBOOK_PATH}${path}`, { headers: auth(token) });
const send = (method: string, path: string, body: unknown, token: string | null = tokens.full!) =>
  app.request(`${ORIGIN}${GRADEBOOK_PATH}${path}`, {
    method, headers: { ...auth(token), 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const json = async (res: Response) => (await res.json()) as Record<string, any>;
const count = async (table: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db.orm.em.fork().getKysely())).rows[0]!.n;

async function tokenFor(name: string, scopeList: string[], orgs?: string[], requested?: string[]) {
  const client = await createClient(db.orm, { name, scopes: scopeList, orgs });
  const res = await app.request(`${ORIGIN}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
    body: `grant_type=client_credentials${requested ? `&scope=${encodeURIComponent(requested.join(' '))}` : ''}`,
  });
  expect(res.status).toBe(200);
  tokens[name] = ((await res.json()) as { access_token: string }).access_token;
}

const everything = [scopes.roster, scopes.gradebook, scopes.gradebookPut, scopes.gradebookPost, scopes.gradebookDelete];

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-gradebook', MAX_BODY_BYTES: '200000' }), tokens: new TokenIssuer('s'.repeat(40), 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
  const run = await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: district() });
  expect(run.status).toBe('succeeded');
  await tokenFor('full', everything);
  await tokenFor('core', [scopes.gradebookCore]);
  await tokenFor('roster', [scopes.roster]);
  await tokenFor('s2only', everything, ['s2']);
});
afterAll(async () => {
  await db?.drop();
});

const lineItem = (overrides: Record<string, unknown> = {}) => ({
  title: 'Quiz 1', assignDate: '2024-09-10T08:00:00.000Z', dueDate: '2024-09-12T08:00:00.000Z',
  class: { sourcedId: 'cl1' }, school: { sourcedId: 's1' }, category: { sourcedId: 'cat-test' }, ...overrides,
});
const result = (overrides: Record<string, unknown> = {}) => ({
  lineItem: { sourcedId: 'li-seed' }, student: { sourcedId: 'u-lisa' }, scoreStatus: 'fully graded', score: 88, scoreDate: '2024-09-13', ...overrides,
});

/** A real path for each read operation. */
const sample: Record<string, string> = { classSourcedId: 'cl1', lineItemSourcedId: 'li-seed', studentSourcedId: 'u-bart', schoolSourcedId: 's1' };
const objectIds: Record<string, string> = { getCategory: 'cat-hw', getLineItem: 'li-seed', getResult: 'r-seed', getScoreScale: 'ss1' };
const pathOf = (op: (typeof gradebookOperations)[number]) =>
  op.path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'sourcedId' ? objectIds[op.operationId]! : sample[name]!));

describe('reads', () => {
  test('every gradebook read of the official OpenAPI is served (assessments aside), each 200 validates, each set has rows', async () => {
    const official = [...spec.operations.keys()].filter((id) => id.startsWith('get') && !/Assessment/.test(id));
    expect(new Set(gradebookOperations.map((o) => o.operationId))).toEqual(new Set(official));
    for (const op of gradebookOperations) {
      expect(spec.operations.get(op.operationId)!.path, op.operationId).toBe(op.path);
      const res = await get(pathOf(op));
      expect(res.status, `${op.operationId} ${pathOf(op)}`).toBe(200);
      const body = await json(res);
      expect(spec.validate(op.operationId, 200, body), op.operationId).toEqual([]);
      if (op.kind === 'collection') expect(body[op.key].length, op.operationId).toBeGreaterThan(0);
    }
  });

  test('the shapes: references into both services, numbers as numbers, flags as strings, learning objectives', async () => {
    const { lineItem: li } = await json(await get('/lineItems/li-seed'));
    expect(li).toMatchObject({
      sourcedId: 'li-seed', status: 'active', title: 'Chapter 1 homework', assignDate: '2024-09-01T08:00:00.000Z', dueDate: '2024-09-08T23:59:00.000Z',
      class: { href: `${ONEROSTER}/rostering/v1p2/classes/cl1`, sourcedId: 'cl1', type: 'class' },
      school: { href: `${ONEROSTER}/rostering/v1p2/orgs/s1`, sourcedId: 's1', type: 'org' },
      category: { href: `${ONEROSTER}/gradebook/v1p2/categories/cat-hw`, sourcedId: 'cat-hw', type: 'category' },
      gradingPeriod: { sourcedId: 'gp1', type: 'academicSession' },
      scoreScale: { href: `${ONEROSTER}/gradebook/v1p2/scoreScales/ss1`, type: 'scoreScale' },
      resultValueMin: 0, resultValueMax: 100, learningObjectiveSet: [{ source: 'case', learningObjectiveIds: ['lo-1', 'lo-2'] }],
    });
    const { result: r } = await json(await get('/results/r-seed'));
    expect(r).toMatchObject({ score: 92.5, textScore: 'A-', scoreDate: '2024-09-09', late: 'false', student: { href: `${ONEROSTER}/rostering/v1p2/users/u-bart` } });
    expect(JSON.stringify(r)).not.toContain('null');
    const { category } = await json(await get('/categories/cat-hw'));
    expect(category).toMatchObject({ title: 'Homework', weight: 0.25 });
    const { scoreScale } = await json(await get('/scoreScales/ss1'));
    expect(scoreScale.scoreScaleValue).toEqual([{ itemValueLHS: '90', itemValueRHS: 'A' }, { itemValueLHS: '80', itemValueRHS: 'B' }]);
  });

  test('filter, sort and paging run on gradebook fields: numbers, dates, flags, references', async () => {
    const ids = async (path: string) => (await json(await get(path))).results?.map((x: { sourcedId: string }) => x.sourcedId);
    expect(await ids(`/results?filter=${encodeURIComponent("score>'90'")}`)).toEqual(['r-seed']);
    expect(await ids(`/results?filter=${encodeURIComponent("score<'90'")}`)).toEqual([]);
    expect(await ids(`/results?filter=${encodeURIComponent("scoreDate>='2024-09-01' AND late='false' AND lineItem.sourcedId='li-seed'")}`)).toEqual(['r-seed']);
    const items = await json(await get(`/lineItems?filter=${encodeURIComponent("dueDate<'2025-01-01T00:00:00Z'")}&sort=title&fields=sourcedId,title`));
    expect(items.lineItems).toEqual([{ sourcedId: 'li-seed', title: 'Chapter 1 homework' }]);
    const bad = await get(`/results?filter=${encodeURIComponent("score>'high'")}`);
    expect(bad.status).toBe(400);
    expect((await json(bad)).imsx_CodeMinor.imsx_codeMinorField[0].imsx_codeMinorFieldValue).toBe('invalid_filter_field');
    expect(spec.validate('getAllResults', 400, await json(await get('/results?filter=nope')))).toEqual([]);
  });

  test('a nested route under a class, lineItem, student or school that does not exist is 404 unknownobject', async () => {
    for (const path of ['/classes/nope/lineItems', '/classes/cl1/lineItems/nope/results', '/classes/cl1/students/nope/results', '/schools/nope/scoreScales', '/classes/nope/categories']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect((await json(res)).imsx_description, path).toContain('nope');
    }
    expect((await get('/lineItems/nope')).status).toBe(404);
    expect((await get('/nothing-here')).status).toBe(404);
  });

  test('discovery: the localized official gradebook OpenAPI, with the write operations', async () => {
    const doc = await json(await app.request(`${ORIGIN}${GRADEBOOK_DISCOVERY_PATH}`));
    expect(doc.servers).toEqual([{ url: `${ORIGIN}${GRADEBOOK_PATH}`, description: 'This Rostergate gateway' }]);
    expect(doc.components.securitySchemes.OAuth2CC.flows.clientCredentials.tokenUrl).toBe(`${ORIGIN}/oauth/token`);
    expect(Object.keys(doc.paths)).toContain('/lineItems/{sourcedId}');
    expect(Object.keys(doc.paths)).not.toContain('/assessmentLineItems');
    expect(doc.paths['/lineItems/{sourcedId}'].put.operationId).toBe('putLineItem');
    // The vendored official file is the shared one, unchanged.
    const shared = new URL('../../../shared/specs/oneroster/gradebookservice.yaml', import.meta.url);
    if (existsSync(shared)) expect(readFileSync(gradebookSpecFile, 'utf8')).toBe(readFileSync(shared, 'utf8'));
  });
});

describe('the Google Classroom grade-passback flow', () => {
  test('teacher by email → classes → students → categories → grading periods → lineItem and results written, edited, exempted, deleted', async () => {
    const flowScopes = [scopes.roster, scopes.gradebook, scopes.gradebookPut, scopes.gradebookDelete];
    await tokenFor('google', flowScopes, undefined, flowScopes);
    const token = tokens.google!;
    const roster = async (path: string) => {
      const res = await app.request(`${ORIGIN}${BASE_PATH}${path}`, { headers: auth(token) });
      expect(res.status, path).toBe(200);
      return json(res);
    };
    const gb = async (path: string, operationId: string) => {
      const res = await get(path, token);
      expect(res.status, path).toBe(200);
      const body = await json(res);
      expect(spec.validate(operationId, 200, body), path).toEqual([]);
      return body;
    };
    const write = async (method: string, path: string, body: unknown, expected: number[], operationId: string) => {
      const res = await send(method, path, body, token);
      expect(expected, `${method} ${path}: ${res.status} ${res.status >= 400 ? await res.text() : ''}`).toContain(res.status);
      expect(res.status === 204 || res.status === 201 || res.status === 200 ? '' : spec.validate(operationId, res.status, await json(res))).toEqual('');
      return res;
    };

    expect((await roster('/teachers?limit=1')).users).toHaveLength(1);
    const teachers = (await roster(`/teachers?filter=${encodeURIComponent("email='edna@example.org'")}&limit=10000`)).users;
    expect(teachers).toHaveLength(1);
    expect(teachers[0]).toHaveProperty('email');
    const classes = (await roster(`/teachers/${teachers[0].sourcedId}/classes?limit=10000&filter=${encodeURIComponent("status='active'")}`)).classes;
    const [classId, schoolId, termId] = [classes[0].sourcedId, classes[0].school.sourcedId, classes[0].terms[0].sourcedId];
    const students = (await roster(`/classes/${classId}/students?limit=10000`)).users;
    expect(students[0]).toHaveProperty('email');
    const studentId = students[0].sourcedId;
    const categories = (await gb(`/classes/${classId}/categories?limit=10000`, 'getCategoriesForClass')).categories;
    const categoryId = categories[0].sourcedId;
    const periods = (await roster(`/terms/${termId}/gradingPeriods?limit=10000`)).academicSessions;
    expect(periods.every((p: Record<string, string>) => p.type === 'gradingPeriod' && ['sourcedId', 'title', 'startDate', 'endDate', 'schoolYear'].every((k) => k in p))).toBe(true);

    const lineItemId = crypto.randomUUID();
    const now = new Date();
    const [assignDate, dueDate] = [now.toISOString(), new Date(now.getTime() + 60_000).toISOString()];
    const item = (title: string) => ({
      lineItem: {
        sourcedId: lineItemId, title, description: 'Test Line Item', resultValueMin: 0, resultValueMax: 100, assignDate, dueDate,
        class: { sourcedId: classId }, category: { sourcedId: categoryId }, school: { sourcedId: schoolId },
      },
    });
    await write('PUT', `/lineItems/${lineItemId}`, item('New test item'), [201], 'putLineItem');
    const listed = async () => (await gb(`/classes/${classId}/lineItems?limit=10000`, 'getLineItemsForClass')).lineItems as { sourcedId: string; title: string }[];
    expect((await listed()).some((l) => l.sourcedId === lineItemId)).toBe(true);
    const longTitle = `[Amended] Rea${'l'.repeat(60)}y Long Google Test Line Item Title`;
    await write('PUT', `/lineItems/${lineItemId}`, item(longTitle), [200], 'putLineItem');
    expect((await listed()).find((l) => l.sourcedId === lineItemId)!.title).toBe(longTitle);

    const resultId = crypto.randomUUID();
    const putResult = (score: number, scoreStatus: string) => ({
      result: { sourcedId: resultId, score, comment: '', scoreStatus, scoreDate: assignDate, lineItem: { sourcedId: lineItemId }, student: { sourcedId: studentId } },
    });
    const results = async () => (await gb(`/classes/${classId}/lineItems/${lineItemId}/results?limit=10000`, 'getResultsForLineItemForClass')).results as Record<string, any>[];
    await write('PUT', `/results/${resultId}`, putResult(80, 'fully graded'), [201], 'putResult');
    expect((await results()).some((r) => r.sourcedId === resultId)).toBe(true);
    await write('PUT', `/results/${resultId}`, putResult(300, 'fully graded'), [200], 'putResult');
    expect((await results()).find((r) => r.sourcedId === resultId)!.score).toBe(300);
    await write('PUT', `/results/${resultId}`, putResult(80, 'exempt'), [200], 'putResult');
    expect((await results()).find((r) => r.sourcedId === resultId)!.scoreStatus).toBe('exempt');

    await write('DELETE', `/results/${resultId}`, undefined, [204], 'deleteResult');
    expect((await results()).some((r) => r.sourcedId === resultId)).toBe(false);
    await write('DELETE', `/lineItems/${lineItemId}`, undefined, [204], 'deleteLineItem');
    expect((await listed()).some((l) => l.sourcedId === lineItemId)).toBe(false);
    // Deletions stay visible to delta consumers of the top-level collections.
    const { lineItem: gone } = await gb(`/lineItems/${lineItemId}`, 'getLineItem');
    expect(gone.status).toBe('tobedeleted');
  });
});

describe('writes', () => {
  test('PUT is 201 on create, 200 on update; the same content again changes nothing (no new dateLastModified)', async () => {
    expect((await send('PUT', '/categories/cat-new', { category: { title: 'Projects', weight: 0.1 } })).status).toBe(201);
    const first = (await json(await get('/categories/cat-new'))).category;
    const again = await send('PUT', '/categories/cat-new', { category: { sourcedId: 'cat-new', title: 'Projects', weight: 0.1, status: 'active', dateLastModified: '2000-01-01T00:00:00.000Z' } });
    expect(again.status).toBe(200);
    expect((await json(await get('/categories/cat-new'))).category.dateLastModified).toBe(first.dateLastModified);
    expect((await send('PUT', '/categories/cat-new', { category: { title: 'Projects', weight: 0.2 } })).status).toBe(200);
    expect((await json(await get('/categories/cat-new'))).category.weight).toBe(0.2);
    const scale = { scoreScale: { title: 'Pass/fail', type: 'binary', class: { sourcedId: 'cl1' }, scoreScaleValue: [{ itemValueLHS: '1', itemValueRHS: 'Pass' }] } };
    expect((await send('PUT', '/scoreScales/ss-new', scale)).status).toBe(201);
    expect(spec.validate('getScoreScale', 200, await json(await get('/scoreScales/ss-new')))).toEqual([]);
  });

  test('POST creates sets under a class, a school or a lineItem and answers with the sourcedIds it allocated', async () => {
    const res = await send('POST', '/classes/cl1/lineItems', { lineItems: [lineItem({ sourcedId: 'li-p1', class: undefined }), lineItem({ title: 'No id given' })] });
    expect(res.status).toBe(201);
    const { sourcedIdPairs } = await json(res);
    expect(spec.validate('postLineItemsForClass', 201, { sourcedIdPairs })).toEqual([]);
    expect(sourcedIdPairs[0]).toEqual({ suppliedSourcedId: 'li-p1', allocatedSourcedId: 'li-p1' });
    expect(sourcedIdPairs[1].allocatedSourcedId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await json(await get(`/lineItems/${sourcedIdPairs[1].allocatedSourcedId}`))).lineItem.title).toBe('No id given');

    const school = await send('POST', '/schools/s1/lineItems', { lineItems: [lineItem({ sourcedId: 'li-p2', school: undefined })] });
    expect(school.status).toBe(201);
    const results = await send('POST', '/lineItems/li-p1/results', { results: [result({ sourcedId: 'r-p1', lineItem: undefined }), result({ sourcedId: 'r-p2', lineItem: undefined, student: { sourcedId: 'u-bart' }, scoreStatus: 'ext:late-penalty' })] });
    expect(results.status).toBe(201);
    expect((await json(await get('/classes/cl1/results?limit=100'))).results.map((r: { sourcedId: string }) => r.sourcedId)).toEqual(expect.arrayContaining(['r-p1', 'r-p2', 'r-seed']));
    const session = await send('POST', '/classes/cl1/academicSessions/t1/results', { results: [result({ sourcedId: 'r-p3', student: { sourcedId: 'u-bart' } })] });
    expect(session.status).toBe(201);
    expect((await json(await get('/classes/cl1/students/u-bart/results'))).results.map((r: { sourcedId: string }) => r.sourcedId)).toEqual(expect.arrayContaining(['r-p2', 'r-p3', 'r-seed']));
  });

  test('DELETE tombstones (204); a lineItem takes its results along; a category or scale in use is refused', async () => {
    expect((await send('PUT', '/lineItems/li-del', { lineItem: lineItem() })).status).toBe(201);
    expect((await send('PUT', '/results/r-del', { result: result({ lineItem: { sourcedId: 'li-del' } }) })).status).toBe(201);
    const inUse = await send('DELETE', '/categories/cat-test', undefined);
    expect(inUse.status).toBe(422);
    const body = await json(inUse);
    expect(body.imsx_CodeMinor.imsx_codeMinorField[0].imsx_codeMinorFieldValue).toBe('deletefailure');
    expect(spec.validate('deleteCategory', 422, body)).toEqual([]);
    expect((await send('DELETE', '/scoreScales/ss1', undefined)).status).toBe(422);
    expect((await send('DELETE', '/lineItems/li-del', undefined)).status).toBe(204);
    expect((await json(await get('/results/r-del'))).result.status).toBe('tobedeleted');
    const twice = await send('DELETE', '/lineItems/li-del', undefined);
    expect(twice.status).toBe(404);
    expect(spec.validate('deleteLineItem', 404, await json(twice))).toEqual([]);
    expect((await send('DELETE', '/categories/cat-new', undefined)).status).toBe(204);
  });
});

describe('bad input: a precise error in the standard shape, and nothing written', () => {
  const refused = async (method: string, path: string, body: unknown, status: number, mentions: string, operationId: string) => {
    const before = await Promise.all(['line_item', 'result', 'category', 'score_scale'].map(count));
    const res = await send(method, path, body);
    expect(res.status, `${method} ${path}`).toBe(status);
    const error = await json(res);
    expect(error.imsx_description, `${method} ${path}`).toContain(mentions);
    expect(spec.validate(operationId, status, error), operationId).toEqual([]);
    expect(await Promise.all(['line_item', 'result', 'category', 'score_scale'].map(count))).toEqual(before);
  };

  test('shape: required fields, wrong types, vocabularies, the envelope, the path id, JSON itself', async () => {
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ title: undefined }) }, 422, 'lineItem.title: is required', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ dueDate: 'next week' }) }, 422, 'lineItem.dueDate', 'putLineItem');
    await refused('PUT', '/results/r-x', { result: result({ score: '88' }) }, 422, 'result.score', 'putResult');
    await refused('PUT', '/results/r-x', { result: result({ scoreStatus: 'graded' }) }, 422, 'result.scoreStatus', 'putResult');
    await refused('PUT', '/results/r-x', { result: result({ late: 'yes' }) }, 422, 'result.late: must be "true" or "false"', 'putResult');
    await refused('PUT', '/results/r-x', { result: result({ lineItem: { sourcedId: 'li-seed', type: 'class' } }) }, 422, 'result.lineItem.type', 'putResult');
    await refused('PUT', '/lineItems/li-x', { lineItem: { ...lineItem(), sourcedId: 'li-other' } }, 422, 'the path names li-x', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ status: 'tobedeleted' }) }, 422, 'use DELETE', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', { lineItems: [lineItem()] }, 422, '{"lineItem": {…}}', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', '{"lineItem": ', 422, 'not JSON', 'putLineItem');
    await refused('PUT', '/scoreScales/ss-x', { scoreScale: { title: 'x', type: 'y', class: { sourcedId: 'cl1' }, scoreScaleValue: [] } }, 422, 'scoreScale.scoreScaleValue', 'putScoreScale');
  });

  test('references: unknown or tombstoned records, a school that is not the class school, a student not in the class', async () => {
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ class: { sourcedId: 'cl-missing' } }) }, 422, 'lineItem.class.sourcedId: no active class has sourcedId cl-missing', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ category: { sourcedId: 'cat-missing' } }) }, 422, 'lineItem.category.sourcedId', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ school: { sourcedId: 's2' } }) }, 422, 'class cl1 is at school s1', 'putLineItem');
    await refused('PUT', '/lineItems/li-x', { lineItem: lineItem({ gradingPeriod: { sourcedId: 't1' } }) }, 422, 'not a gradingPeriod', 'putLineItem');
    await refused('PUT', '/results/r-x', { result: result({ student: { sourcedId: 'u-teach' } }) }, 422, 'u-teach is not enrolled as a student in class cl1', 'putResult');
    await refused('PUT', '/results/r-x', { result: result({ class: { sourcedId: 'cl2' } }) }, 422, 'belongs to class cl1', 'putResult');
    await refused('PUT', '/results/r-x', { result: result({ lineItem: { sourcedId: 'li-del' } }) }, 422, 'no active lineItem has sourcedId li-del', 'putResult');
  });

  test('POST is all or nothing: one bad item refuses the set; an unknown parent is 404; limits hold', async () => {
    await refused('POST', '/classes/cl1/lineItems', { lineItems: [lineItem({ sourcedId: 'li-ok' }), lineItem({ sourcedId: 'li-bad', dueDate: undefined })] }, 422, 'lineItems[1].dueDate: is required', 'postLineItemsForClass');
    await refused('POST', '/classes/cl1/lineItems', { lineItems: [lineItem({ sourcedId: 'li-ok' }), lineItem({ sourcedId: 'li-ok' })] }, 422, 'appears more than once', 'postLineItemsForClass');
    await refused('POST', '/classes/cl1/lineItems', { lineItems: [lineItem({ class: { sourcedId: 'cl2' } })] }, 422, 'but the path names cl1', 'postLineItemsForClass');
    await refused('POST', '/classes/cl-missing/lineItems', { lineItems: [lineItem()] }, 404, 'No class with sourcedId cl-missing', 'postLineItemsForClass');
    await refused('POST', '/lineItems/li-seed/results', { results: [] }, 422, 'nothing to create', 'postResultsForLineItem');
    await refused('POST', '/lineItems/li-seed/results', { results: Array.from({ length: 1001 }, () => result({ lineItem: undefined })) }, 422, 'at most 1000', 'postResultsForLineItem');
    await refused('POST', '/classes/cl1/academicSessions/y2025/results', { results: [result({ student: { sourcedId: 'u-bart' } })] }, 422, 'another academic session', 'postResultsForAcademicSessionForClass');
    await refused('PUT', '/categories/c-big', { category: { title: 'x'.repeat(300_000) } }, 413, 'MAX_BODY_BYTES', 'putCategory');
  });
});

describe('scopes', () => {
  test('every gradebook route: 401 without a valid token, 403 without the operation scope', async () => {
    const routes = app.routes.filter((r) => r.path.startsWith(GRADEBOOK_PATH) && r.method !== 'ALL' && !r.path.includes('/discovery/'));
    const methods = new Set(routes.map((r) => `${r.method} ${r.path}`));
    expect(methods.size).toBe(gradebookOperations.length + 4 * 2 + 4);
    const needs: Record<string, string> = { PUT: scopes.gradebookPut, POST: scopes.gradebookPost, DELETE: scopes.gradebookDelete };
    for (const entry of methods) {
      const [method, path] = entry.split(' ') as [string, string];
      const url = path.replace(/:(\w+)/g, (_, p: string) => (p === 'sourcedId' ? 'x' : sample[p] ?? 'x'));
      const call = (token: string | null) => app.request(`${ORIGIN}${url}`, { method, headers: { ...auth(token), 'content-type': 'application/json' }, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
      const operationId = operationOf(method, path);
      for (const token of [null, 'not-a-token']) {
        const res = await call(token);
        expect(res.status, `${entry} ${token}`).toBe(401);
        expect(spec.validate(operationId, 401, await json(res)), entry).toEqual([]);
      }
      // The rostering scope opens no gradebook door; the core scope opens core reads only.
      const forbidden = await call(tokens.roster!);
      expect(forbidden.status, `${entry} roster`).toBe(403);
      expect(spec.validate(operationId, 403, await json(forbidden)), entry).toEqual([]);
      const core = gradebookOperations.find((o) => `GET ${GRADEBOOK_PATH}${o.path.replace(/\{(\w+)\}/g, ':$1')}` === entry)?.access === 'gradebookCore';
      expect((await call(tokens.core!)).status === 403, `${entry} core`).toBe(!core);
      if (method !== 'GET') {
        const others = await tokenWithout(needs[method]!);
        expect((await call(others)).status, `${entry} without ${needs[method]}`).toBe(403);
      }
    }
  });

  test('a client limited to a school reads and writes only that school', async () => {
    expect((await json(await get('/lineItems', tokens.s2only!))).lineItems).toEqual([]);
    expect((await json(await get('/results', tokens.s2only!))).results).toEqual([]);
    const res = await send('PUT', '/lineItems/li-s1', { lineItem: lineItem() }, tokens.s2only!);
    expect(res.status).toBe(403);
    expect((await json(res)).imsx_description).toContain('may not write for school s1');
    expect((await send('DELETE', '/results/r-seed', undefined, tokens.s2only!)).status).toBe(403);
    expect((await json(await get('/results/r-seed'))).result.status).toBe('active');
  });
});

/** The official operationId of a route (`PUT /ims/…/lineItems/:sourcedId` → putLineItem). */
function operationOf(method: string, path: string): string {
  const oas = path.slice(GRADEBOOK_PATH.length).replace(/:(\w+)/g, '{$1}');
  for (const [id, op] of spec.operations) if (op.path === oas && op.method === method.toLowerCase()) return id;
  throw new Error(`no official operation for ${method} ${path}`);
}

const without = new Map<string, string>();
async function tokenWithout(scope: string): Promise<string> {
  if (!without.has(scope)) {
    const name = `without-${scope.split('/').pop()}`;
    await tokenFor(name, everything.filter((s) => s !== scope));
    without.set(scope, tokens[name]!);
  }
  return without.get(scope)!;
}
