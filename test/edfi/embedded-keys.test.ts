import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { purgeTombstones } from '../../src/sync/purge.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { RecordBatch } from '../../src/sync/records.ts';
import { importPackage } from '../../standards/oneroster/csv/import.ts';
import { fixture } from '../support/csv.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { accessToken, gatewayApp } from '../support/gateway.ts';
import { defaults } from '../support/roster.ts';

// An Ed-Fi document embeds keys of other rows (a section's localCourseCode is its course's code, a
// school association's schoolId its school's identifier). When only that other row changes, the
// document changes too, so its _etag, _lastModifiedDate and change version must move, while the
// OneRoster stamps of the row behind it stay (its OneRoster JSON names the other row by sourcedId).

const ED = 'https://gw.example/data/ed-fi';
const OR = 'https://gw.example/ims/oneroster/rostering/v1p2';
const resources = ['schools', 'courses', 'courseOfferings', 'sessions', 'sections', 'students', 'staffs', 'studentSchoolAssociations',
  'staffEducationOrganizationAssignmentAssociations', 'studentSectionAssociations', 'staffSectionAssociations', 'studentContactAssociations',
  'studentEducationOrganizationAssociations'] as const;
type Item = Record<string, unknown> & { id: string; _etag: string; _lastModifiedDate: string };
type Snapshot = Record<string, Item[]>;

let db: TestDatabase;
let app: ReturnType<typeof gatewayApp>;
let edfiToken = '';
let rosterToken = '';
beforeAll(async () => {
  db = await createTestDatabase();
  app = gatewayApp(db.orm, './data/test-embedded-keys');
  edfiToken = await accessToken(app, await createClient(db.orm, { name: 'e', scopes: [scopes.edfiWrite] }));
  rosterToken = await accessToken(app, await createClient(db.orm, { name: 'r', scopes: [scopes.roster] }));
  await importPackage(db.orm, fixture('bulk'), { source: 'sis', holdShare: 0.3, batchSize: 1000, limits: { maxEntries: 64, maxFileBytes: 10_000_000, maxTotalBytes: 50_000_000 } });
});
afterAll(async () => { await db?.drop(); });

const get = (url: string, token: string, headers: Record<string, string> = {}) => app.request(url, { headers: { authorization: `Bearer ${token}`, ...headers } });
const edfi = async (path: string) => (await (await get(`${ED}${path}`, edfiToken)).json()) as Item[];
const snapshot = async (): Promise<Snapshot> => Object.fromEntries(await Promise.all(resources.map(async (r) => [r, await edfi(`/${r}?limit=500`)])));
const oneRoster = async () => {
  const stamps = async (path: string, key: string) =>
    ((await (await get(`${OR}/${path}?limit=1000`, rosterToken)).json()) as Record<string, { sourcedId: string; dateLastModified: string }[]>)[key]!
      .map((x) => `${x.sourcedId} ${x.dateLastModified}`);
  return { classes: await stamps('classes', 'classes'), enrollments: await stamps('enrollments', 'enrollments'), users: await stamps('users', 'users') };
};
const strip = (x: Item) => JSON.stringify({ ...x, _etag: undefined, _lastModifiedDate: undefined });
const availableVersion = async () => ((await (await get(`${ED.replace('/data/ed-fi', '')}/changeQueries/v1/availableChangeVersions`, edfiToken)).json()) as { newestChangeVersion: number }).newestChangeVersion;

/** Items present before and after, by resource: whether their document and their _etag changed. */
function compare(before: Snapshot, after: Snapshot) {
  return resources.flatMap((r) => before[r]!.flatMap((item) => {
    const now = after[r]!.find((x) => x.id === item.id);
    return now ? [{ resource: r, id: item.id, doc: strip(now) !== strip(item), etag: now._etag !== item._etag, before: item, now }] : [];
  }));
}
const delta = (batches: RecordBatch[]) => reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: batches as never });

describe('a change to a key another Ed-Fi document embeds', () => {
  test('a course code moves the etags of its sections, offerings and section associations, and nothing in OneRoster', async () => {
    const [before, roster, version] = [await snapshot(), await oneRoster(), await availableVersion()];
    await delta([{ entity: 'course', records: [{ sourcedId: 'c-math', title: 'Algebra I', courseCode: 'MATH9', schoolYearSourcedId: 'y2025', orgSourcedId: 'd1', grades: ['09'], subjects: ['Mathematics'], subjectCodes: ['MA1'] }] }] as never);
    const diffs = compare(before, await snapshot());
    const changed = diffs.filter((d) => d.doc);
    expect(new Set(changed.map((d) => d.resource))).toEqual(new Set(['courses', 'courseOfferings', 'sections', 'studentSectionAssociations', 'staffSectionAssociations']));
    expect(changed.filter((d) => !d.etag)).toEqual([]);
    for (const d of changed) expect(Date.parse(d.now._lastModifiedDate)).toBeGreaterThan(Date.parse(d.before._lastModifiedDate));
    // Nothing else moved, and the OneRoster rows behind sections and associations kept their stamps.
    expect(diffs.filter((d) => !d.doc && d.etag)).toEqual([]);
    expect(await oneRoster()).toEqual(roster);
    // Change queries see them.
    const sections = await edfi(`/sections?minChangeVersion=${version + 1}`);
    expect(sections.map((s) => s.localCourseCode ?? (s.courseOfferingReference as { localCourseCode: string }).localCourseCode)).toEqual(['MATH9', 'MATH9']);
    expect((await edfi(`/studentSectionAssociations?minChangeVersion=${version + 1}`)).length).toBe(changed.filter((d) => d.resource === 'studentSectionAssociations').length);
    // A client holding the old etag gets the new document, not 304.
    const section = changed.find((d) => d.resource === 'sections')!;
    const res = await get(`${ED}/sections/${section.id}`, edfiToken, { 'if-none-match': `"${section.before._etag}"` });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${section.now._etag}"`);
  });

  test('a school identifier moves every document that names the school', async () => {
    const before = await snapshot();
    await delta([{ entity: 'org', records: [{ sourcedId: 's1', name: 'Springfield High', type: 'school', identifier: '901', parentSourcedId: 'd1' }] }] as never);
    const diffs = compare(before, await snapshot());
    const changed = diffs.filter((d) => d.doc);
    expect(new Set(changed.map((d) => d.resource))).toEqual(new Set(['schools', 'sessions', 'sections', 'courseOfferings', 'studentSchoolAssociations',
      'staffEducationOrganizationAssignmentAssociations', 'studentSectionAssociations', 'staffSectionAssociations', 'studentEducationOrganizationAssociations']));
    expect(changed.filter((d) => !d.etag)).toEqual([]);
  });

  test('a session title, a student id and a birth date each reach the documents that show them', async () => {
    for (const batch of [
      { entity: 'academicSession', records: [{ sourcedId: 't1', title: 'Autumn', type: 'term', startDate: '2024-08-15', endDate: '2024-12-20', parentSourcedId: 'y2025', schoolYear: '2025' }] },
      { entity: 'user', records: [{ sourcedId: 'u-lisa', enabledUser: true, username: 'lsimpson', userIds: [{ type: 'SIS', identifier: '1002' }], givenName: 'Lisa', familyName: 'Simpson',
        identifier: '2002', agentSourcedIds: ['u-homer'], grades: ['09'], primaryOrgSourcedId: 's1', preferredFirstName: 'Lis "the brain"',
        roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1', userProfile: 'p-lisa' }] }] },
      { entity: 'demographics', records: [{ sourcedId: 'u-bart', birthDate: '2010-04-02', sex: 'male', white: true, americanIndianOrAlaskaNative: false, asian: false,
        blackOrAfricanAmerican: false, nativeHawaiianOrOtherPacificIslander: false, demographicRaceTwoOrMoreRaces: false, hispanicOrLatinoEthnicity: false,
        countryOfBirthCode: 'US', stateOfBirthAbbreviation: 'OR', cityOfBirth: 'Springfield' }] },
    ]) {
      const before = await snapshot();
      const run = await delta([batch] as never);
      expect(run.status, batch.entity).toBe('succeeded');
      expect(Object.values(run.counts).reduce((n, c) => n + c.updated, 0), batch.entity).toBe(1);
      const changed = compare(before, await snapshot()).filter((d) => d.doc);
      expect(changed.length, batch.entity).toBeGreaterThan(0);
      expect(changed.filter((d) => !d.etag), batch.entity).toEqual([]);
    }
  });

  test('a change to a field no other document embeds moves nothing else; a repeated change moves nothing', async () => {
    const course = { sourcedId: 'c-math', title: 'Algebra One', courseCode: 'MATH9', schoolYearSourcedId: 'y2025', orgSourcedId: 'd1', grades: ['09'], subjects: ['Mathematics'], subjectCodes: ['MA1'] };
    let before = await snapshot();
    await delta([{ entity: 'course', records: [course] }] as never);
    const diffs = compare(before, await snapshot());
    // The title is in the course and in the offerings derived from its classes, not in sections.
    expect(diffs.filter((d) => d.etag).map((d) => d.resource).sort()).toEqual(['courseOfferings', 'courseOfferings', 'courses']);
    before = await snapshot();
    const version = await availableVersion();
    await delta([{ entity: 'course', records: [course] }] as never);
    expect(compare(before, await snapshot()).filter((d) => d.etag || d.doc)).toEqual([]);
    expect(await availableVersion()).toBe(version);
  });
});

describe('rows purged for good', () => {
  test('purging a tombstoned birth date moves the student\'s etag', async () => {
    // The district's only demographics row: past the hold share, so allowed for this run.
    const run = await reconcile(db.orm, { ...defaults, holdShare: 1, source: 'sis', mode: 'delta', batches: [{ entity: 'demographics', records: [{ sourcedId: 'u-bart', status: 'tobedeleted' }] }] as never });
    expect(run.status).toBe('succeeded');
    const before = (await edfi('/students?limit=500')).find((s) => s.studentUniqueId === '1001')!;
    await db.orm.em.fork().getConnection().execute(`update demographics set date_last_modified = now() - interval '400 days' where sourced_id = 'u-bart'`);
    expect((await purgeTombstones(db.orm, 90)).demographics).toBe(1);
    const after = (await edfi('/students?limit=500')).find((s) => s.id === before.id)!;
    expect(before.birthDate).toBeDefined();
    expect(after.birthDate).toBeUndefined();
    expect(after._etag).not.toBe(before._etag);
  });
});

describe('items kept in memory by etag', () => {
  test('a page is answered from memory while etags stay, and built again for an item whose etag moved', async () => {
    const first = await edfi('/students?limit=100');
    const lisa = first.find((s) => s.studentUniqueId === '2002')!;
    // A change behind the engine's back (no new etag) is not seen: the item comes from memory.
    await db.orm.em.fork().getConnection().execute(`update "user" set given_name = 'Elisabeth' where sourced_id = 'u-lisa'`);
    expect((await edfi('/students?limit=100')).find((s) => s.id === lisa.id)).toEqual(lisa);
    // Walkers of a whole collection (the largest pages, cursors) get every item built and keep nothing.
    expect((await edfi('/students?limit=500')).find((s) => s.id === lisa.id)).toMatchObject({ firstName: 'Elisabeth', _etag: lisa._etag });
    // Through the engine it has a new etag, and the page has the new item; the others are as they were.
    const run = await delta([{ entity: 'user', records: [{ sourcedId: 'u-lisa', enabledUser: true, username: 'lsimpson', userIds: [{ type: 'SIS', identifier: '1002' }],
      givenName: 'Liz', familyName: 'Simpson', identifier: '2002', agentSourcedIds: ['u-homer'], grades: ['09'], primaryOrgSourcedId: 's1',
      preferredFirstName: 'Lis "the brain"', roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1', userProfile: 'p-lisa' }] }] }] as never);
    expect(run.counts.user!.updated).toBe(1);
    const again = await edfi('/students?limit=100');
    expect(again.find((s) => s.id === lisa.id)).toMatchObject({ firstName: 'Liz' });
    expect(again.find((s) => s.id === lisa.id)!._etag).not.toBe(lisa._etag);
    expect(again.filter((s) => s.id !== lisa.id)).toEqual(first.filter((s) => s.id !== lisa.id));
  });
});
