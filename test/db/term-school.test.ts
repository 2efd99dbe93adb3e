import { sql } from 'kysely';
import { beforeAll, expect, test } from 'vitest';
import { reconcile } from '../../src/sync/reconcile.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

/** term_school (which schools have classes in which terms) follows every class write, as the class triggers keep it. */

const db = useTestDatabase();

const kept = () => db.query(sql<{ term: string; school: string; n: number }>`select term_sourced_id as term, school_sourced_id as school, classes as n
  from term_school order by 1, 2`);
const recounted = () => db.query(sql<{ term: string; school: string; n: number }>`select t as term, c.school_sourced_id as school, count(distinct c.sourced_id)::int as n
  from class c cross join unnest(c.term_sourced_ids) t where t is not null and c.school_sourced_id is not null group by 1, 2 order by 1, 2`);

beforeAll(async () => {
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
});

test('inserts, moves between schools and terms, more terms, tombstones and purges', async () => {
  expect(await kept()).toEqual([{ term: 't1', school: 's1', n: 1 }, { term: 't1', school: 's2', n: 1 }]);

  // A second term; cl1 moves to s2 and takes both terms (one listed twice); a new class in s1.
  let batches = withRecords(smallDistrict(), 'academicSession', (sessions) => [...sessions,
    { sourcedId: 't2', title: 'Spring', type: 'term', startDate: '2025-01-06', endDate: '2025-06-15', schoolYear: '2025', parentSourcedId: 'y2025' }] as never);
  batches = withRecords(batches, 'class', (classes) => [
    ...classes.map((c) => (c.sourcedId === 'cl1' ? { ...c, schoolSourcedId: 's2', termSourcedIds: ['t1', 't2', 't2'] } : c)),
    { sourcedId: 'cl3', title: 'Algebra I - P3', courseSourcedId: 'c-math', schoolSourcedId: 's1', termSourcedIds: ['t2'], classType: 'scheduled' },
  ] as never);
  expect((await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches })).status).toBe('succeeded');
  expect(await kept()).toEqual(await recounted());
  expect(await kept()).toEqual([{ term: 't1', school: 's2', n: 2 }, { term: 't2', school: 's1', n: 1 }, { term: 't2', school: 's2', n: 1 }]);

  // A tombstoned class still counts (its session rows stay until it is purged); a purged one does not.
  await db.query(sql`update class set status = 'tobedeleted' where sourced_id = 'cl3'`);
  expect(await kept()).toEqual(await recounted());
  await db.query(sql`delete from enrollment where class_sourced_id = 'cl3'`);
  await db.query(sql`delete from class where sourced_id = 'cl3'`);
  expect(await kept()).toEqual(await recounted());
  expect((await kept()).find((r) => r.school === 's1')).toBeUndefined();
});

const refVersions = async (table: 'academic_session' | '"user"') =>
  Object.fromEntries((await db.query(sql<{ id: string; v: string | null }>`select sourced_id as id, ref_version::text as v from ${sql.raw(table)} order by 1`))
    .map((r) => [r.id, r.v]));
const changed = (before: Record<string, unknown>, after: Record<string, unknown>) => Object.keys(after).filter((id) => after[id] !== before[id]).sort();
const delta = async (batches: unknown[]) =>
  expect((await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: batches as never })).status).toBe('succeeded');
const cls = (sourcedId: string, schoolSourcedId: string) =>
  ({ sourcedId, title: sourcedId, courseSourcedId: 'c-math', schoolSourcedId, termSourcedIds: ['t2'], classType: 'scheduled' });

test('new classes and birth dates bump, once per insert, only the rows whose documents they enter', async () => {
  // One insert of three classes: two of s1, which t2 does not list yet, one of s2, which it does.
  let before = await refVersions('academic_session');
  await delta([{ entity: 'class', records: [cls('cl4', 's1'), cls('cl5', 's1'), cls('cl6', 's2')] }]);
  const after = await refVersions('academic_session');
  expect(changed(before, after)).toEqual(['t2']);
  expect(await kept()).toEqual(await recounted());
  // Another class of a school t2 already lists changes nothing.
  before = after;
  await delta([{ entity: 'class', records: [cls('cl7', 's1')] }]);
  expect(await refVersions('academic_session')).toEqual(before);

  // A first birth date (a new demographics row) enters its person's document; a row without one does not.
  const users = await refVersions('"user"');
  await delta([{ entity: 'demographics', records: [{ sourcedId: 'u-lisa', birthDate: '2011-05-09' }, { sourcedId: 'u-teach', sex: 'female' }] }]);
  expect(changed(users, await refVersions('"user"'))).toEqual(['u-lisa']);
});
