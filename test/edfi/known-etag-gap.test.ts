import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { importPackage } from '../../standards/oneroster/csv/import.ts';
import { fixture } from '../support/csv.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { accessToken, gatewayApp } from '../support/gateway.ts';
import { defaults } from '../support/roster.ts';

const ED = 'https://gw.example/data/ed-fi';
let db: TestDatabase;
let app: ReturnType<typeof gatewayApp>;
let token = '';
beforeAll(async () => {
  db = await createTestDatabase();
  app = gatewayApp(db.orm, './data/test-etag-gap');
  token = await accessToken(app, await createClient(db.orm, { name: 'e', scopes: [scopes.edfiWrite] }));
  await importPackage(db.orm, fixture('bulk'), { source: 'sis', holdShare: 0.3, batchSize: 1000, limits: { maxEntries: 64, maxFileBytes: 10_000_000, maxTotalBytes: 50_000_000 } });
});
afterAll(async () => { await db?.drop(); });
const edfi = async (p: string) => (await (await app.request(`${ED}${p}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>[];

// KNOWN BUG (open, issue #5): an Ed-Fi item whose document carries another row's key (a section's
// localCourseCode from its course, a school association's schoolId from the school's identifier) changes
// when only that other row changes through the OneRoster side, but keeps its _etag and change version:
// If-None-Match answers 304 for a changed item and change queries miss it. This test pins the gap down
// as it is; a fix makes it fail, and it then turns into the test of the fix (expect a new _etag).
test('KNOWN GAP: an item whose document changes only because a row it references changed keeps its _etag', async () => {
  const before = { sections: await edfi('/sections'), ssa: await edfi('/studentSchoolAssociations') };
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [
    { entity: 'org', records: [{ sourcedId: 's1', name: 'Springfield High', type: 'school', identifier: '901', parentSourcedId: 'd1' }] },
    { entity: 'course', records: [{ sourcedId: 'c-math', title: 'Algebra I', courseCode: 'MATH9', schoolYearSourcedId: 'y2025', orgSourcedId: 'd1', grades: ['09'], subjects: ['Mathematics'], subjectCodes: ['MA1'] }] },
  ] as never });
  const after = { sections: await edfi('/sections'), ssa: await edfi('/studentSchoolAssociations') };
  const strip = (x: Record<string, unknown>) => JSON.stringify({ ...x, _etag: undefined, _lastModifiedDate: undefined });
  const changed = (['sections', 'ssa'] as const).flatMap((kind) => before[kind].flatMap((item) => {
    const now = after[kind].find((x) => x.id === item.id);
    return now && strip(now) !== strip(item) ? [{ kind, sameEtag: now._etag === item._etag }] : [];
  }));
  expect(changed.map((c) => c.kind).sort()).toEqual(['sections', 'sections', 'ssa', 'ssa']);
  expect(changed.every((c) => c.sameEtag)).toBe(true);
});
