import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import type { RecordBatch } from '../../src/sync/records.ts';
import { approveRun, reconcile, rejectRun, RunStateError, SourceBusyError, type ReconcileOptions } from '../../src/sync/reconcile.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

const db = useTestDatabase({ fresh: true });
const query = db.query;

const run = (batches: RecordBatch[], extra: Partial<ReconcileOptions> = {}) =>
  reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches, ...extra });

const row = async (table: string, id: string) =>
  (await query(sql<Record<string, unknown>>`select * from ${sql.table(table)} where sourced_id = ${id}`))[0];

const stamps = () =>
  query(sql<{ sourced_id: string; etag: string; change_version: string; date_last_modified: Date }>`
    select sourced_id, etag, change_version, date_last_modified from "user"
    union all select sourced_id, etag, change_version, date_last_modified from enrollment order by 1`);

describe('bulk runs', () => {
  test('a first run creates every record with ids, etags, change versions and provenance', async () => {
    const summary = await run(smallDistrict());
    expect(summary.status).toBe('succeeded');
    expect(summary.issues).toBe(0);
    expect(summary.counts.org).toEqual({ created: 3, updated: 0, unchanged: 0, tombstoned: 0, rejected: 0 });
    expect(summary.counts.user!.created).toBe(3);
    expect(summary.counts.enrollment!.created).toBe(3);

    const bart = await row('user', 'u-bart');
    expect(bart).toMatchObject({ status: 'active', given_name: 'Bart', grades: ['09'], user_ids: [{ type: 'SIS', identifier: '1001' }] });
    expect(bart!.edfi_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bart!.etag).toBe(`${bart!.change_version}-${String(bart!.content_hash).slice(0, 8)}`);
    const roles = await query(sql`select role, org_sourced_id, begin_date from user_role where user_sourced_id = 'u-bart'`);
    expect(roles).toEqual([{ role: 'student', org_sourced_id: 's1', begin_date: '2024-08-15' }]);
    expect((await row('org', 'd1'))!.edfi_key).toEqual({ localEducationAgencyId: 255901 });
    const cls = await row('class', 'cl1');
    expect(cls).toMatchObject({ term_sourced_ids: ['t1'], periods: ['1'], course_sourced_id: 'c-math' });

    const versions = await query(sql<{ v: string }>`select change_version as v from org union all select change_version from "user"`);
    expect(new Set(versions.map((v) => v.v)).size).toBe(versions.length);
  });

  test('an unchanged re-run writes nothing: same etags, change versions and timestamps', async () => {
    await run(smallDistrict());
    const before = await stamps();
    const summary = await run(smallDistrict());
    expect(summary.status).toBe('succeeded');
    for (const c of Object.values(summary.counts)) {
      expect(c.created + c.updated + c.tombstoned + c.rejected).toBe(0);
    }
    expect(summary.counts.enrollment!.unchanged).toBe(3);
    expect(await stamps()).toEqual(before);
  });

  test('reordering a user’s roles is not a change', async () => {
    const twoRoles = withRecords(smallDistrict(), 'user', (users) =>
      users.map((u) => (u.sourcedId === 'u-teach' && 'roles' in u
        ? { ...u, roles: [...u.roles, { roleType: 'secondary' as const, role: 'teacher' as const, orgSourcedId: 's2' }] } : u)));
    await run(twoRoles);
    const swapped = withRecords(twoRoles, 'user', (users) =>
      users.map((u) => (u.sourcedId === 'u-teach' && 'roles' in u ? { ...u, roles: [...u.roles].reverse() } : u)));
    const summary = await run(swapped);
    expect(summary.counts.user!.updated).toBe(0);
  });

  test('a changed scalar gets a new etag, change version and dateLastModified; nothing else moves', async () => {
    await run(smallDistrict());
    const before = await row('user', 'u-lisa');
    const untouched = await row('user', 'u-bart');
    const changed = withRecords(smallDistrict(), 'user', (users) =>
      users.map((u) => (u.sourcedId === 'u-lisa' ? { ...u, email: 'lisa@example.org' } : u)));
    const summary = await run(changed);
    expect(summary.counts.user).toMatchObject({ updated: 1, unchanged: 2 });
    const after = await row('user', 'u-lisa');
    expect(after!.email).toBe('lisa@example.org');
    expect(after!.etag).not.toBe(before!.etag);
    expect(Number(after!.change_version)).toBeGreaterThan(Number(before!.change_version));
    expect(Date.parse(String(after!.date_last_modified))).toBeGreaterThan(Date.parse(String(before!.date_last_modified)));
    expect(after!.edfi_id).toBe(before!.edfi_id);
    expect(await row('user', 'u-bart')).toEqual(untouched);
  });

  test('a changed child collection (a user’s roles) is a change of the user', async () => {
    await run(smallDistrict());
    const before = await row('user', 'u-bart');
    const moved = withRecords(smallDistrict(), 'user', (users) =>
      users.map((u) => (u.sourcedId === 'u-bart' && 'roles' in u ? { ...u, roles: [{ ...u.roles[0]!, orgSourcedId: 's2' }] } : u)));
    const summary = await run(moved);
    expect(summary.counts.user!.updated).toBe(1);
    const after = await row('user', 'u-bart');
    expect(after!.etag).not.toBe(before!.etag);
    const roles = await query(sql`select org_sourced_id from user_role where user_sourced_id = 'u-bart'`);
    expect(roles).toEqual([{ org_sourced_id: 's2' }]);
  });

  test('a complete bulk run tombstones what its source no longer sends, and only that', async () => {
    await run(smallDistrict());
    await reconcile(db.orm, { ...defaults, source: 'lms', mode: 'bulk', batches: [
      { entity: 'org', records: [{ sourcedId: 'lms-school', name: 'LMS School', type: 'school' }] },
    ] });
    const before = await row('enrollment', 'e3');
    const fewer = withRecords(smallDistrict(), 'enrollment', (es) => es.filter((e) => e.sourcedId !== 'e3'));
    const summary = await run(fewer);
    expect(summary.counts.enrollment).toMatchObject({ tombstoned: 1, unchanged: 2 });
    const gone = await row('enrollment', 'e3');
    expect(gone!.status).toBe('tobedeleted');
    expect(Number(gone!.change_version)).toBeGreaterThan(Number(before!.change_version));
    expect(gone!.etag).not.toBe(before!.etag);
    // Another source's rows are not this run's business.
    expect((await row('org', 'lms-school'))!.status).toBe('active');

    // Sent again, the row comes back to life.
    const back = await run(smallDistrict());
    expect(back.counts.enrollment!.updated).toBe(1);
    expect((await row('enrollment', 'e3'))!.status).toBe('active');
  });

  test('a bulk run limited to a scope leaves other entities alone', async () => {
    await run(smallDistrict());
    const summary = await run([smallDistrict()[0]!], { scope: ['org'] });
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.user!.tombstoned).toBe(0);
    expect((await row('user', 'u-bart'))!.status).toBe('active');
  });

  test('a run whose source fails part-way applies what arrived but tombstones nothing', async () => {
    await run(smallDistrict());
    async function* failing(): AsyncGenerator<RecordBatch> {
      yield { entity: 'org', records: [{ sourcedId: 'd1', name: 'Springfield District (renamed)', type: 'district', identifier: 'NCES-1' }] };
      throw new Error('HTTP 503 from source on page 2');
    }
    const summary = await run([], { batches: failing() });
    expect(summary).toMatchObject({ status: 'partial', complete: false, error: 'HTTP 503 from source on page 2' });
    expect(summary.counts.org).toMatchObject({ updated: 1, tombstoned: 0 });
    expect((await row('org', 'd1'))!.name).toBe('Springfield District (renamed)');
    expect((await row('org', 's1'))!.status).toBe('active');
    expect((await row('user', 'u-bart'))!.status).toBe('active');
  });
});

describe('delta runs', () => {
  test('apply changes and explicit tombstones, leave everything else alone', async () => {
    await run(smallDistrict());
    const summary = await run(
      [
        { entity: 'user', records: [{ sourcedId: 'u-lisa', status: 'tobedeleted' }, { sourcedId: 'u-nobody', status: 'tobedeleted' }] },
        { entity: 'enrollment', records: [{ sourcedId: 'e3', status: 'tobedeleted' }] },
      ],
      { mode: 'delta' },
    );
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.user).toMatchObject({ tombstoned: 1, unchanged: 1 });
    expect(summary.counts.enrollment).toMatchObject({ tombstoned: 1 });
    expect((await row('user', 'u-lisa'))!.status).toBe('tobedeleted');
    expect((await row('enrollment', 'e3'))!.status).toBe('tobedeleted');
    expect((await row('user', 'u-bart'))!.status).toBe('active');
    expect((await row('class', 'cl1'))!.status).toBe('active');
  });
});

describe('bad input', () => {
  test('an unresolved reference rejects the record with an issue naming entity, id and field', async () => {
    const batches = smallDistrict();
    batches.push({ entity: 'enrollment', records: [{ sourcedId: 'e-bad', classSourcedId: 'cl-missing', schoolSourcedId: 's1', userSourcedId: 'u-bart', role: 'student' }] });
    const summary = await run(batches);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.enrollment).toMatchObject({ created: 3, rejected: 1 });
    expect(await row('enrollment', 'e-bad')).toBeUndefined();
    const issues = await query(sql`select entity, sourced_id, field, code, message from sync_issue where run_id = ${summary.runId}`);
    expect(issues).toEqual([{
      entity: 'enrollment', sourced_id: 'e-bad', field: 'classSourcedId', code: 'unresolved_reference',
      message: 'enrollment e-bad references class cl-missing, which does not exist',
    }]);
  });

  test('rejection cascades: a class with a missing course takes its enrollments with it', async () => {
    const batches = withRecords(smallDistrict(), 'class', (cs) => cs.map((c) => (c.sourcedId === 'cl1' ? { ...c, courseSourcedId: 'nope' } : c)));
    const summary = await run(batches);
    expect(summary.counts.class).toMatchObject({ created: 1, rejected: 1 });
    expect(summary.counts.enrollment).toMatchObject({ created: 0, rejected: 3 });
  });

  test('references resolve against stored rows, and a tombstoned target does not count', async () => {
    await run(smallDistrict());
    const ok = await run([{ entity: 'enrollment', records: [{ sourcedId: 'e4', classSourcedId: 'cl2', schoolSourcedId: 's2', userSourcedId: 'u-lisa', role: 'student' }] }], { mode: 'delta' });
    expect(ok.counts.enrollment).toMatchObject({ created: 1, rejected: 0 });
    await run([{ entity: 'class', records: [{ sourcedId: 'cl2', status: 'tobedeleted' }] }], { mode: 'delta' });
    const late = await run([{ entity: 'enrollment', records: [{ sourcedId: 'e5', classSourcedId: 'cl2', schoolSourcedId: 's2', userSourcedId: 'u-lisa', role: 'student' }] }], { mode: 'delta' });
    expect(late.counts.enrollment).toMatchObject({ created: 0, rejected: 1 });
  });

  test('in a bulk run, a reference to a row the run no longer sends does not resolve', async () => {
    await run(smallDistrict());
    // u-lisa is left out of the users, but her unchanged enrollment is still sent: it would point at a tombstone.
    const withoutLisa = () => withRecords(smallDistrict(), 'user', (us) => us.filter((u) => u.sourcedId !== 'u-lisa'));
    expect((await run(withoutLisa(), { atomic: true, holdShare: 1 })).status).toBe('invalid');
    expect((await row('user', 'u-lisa'))!.status).toBe('active');
    const summary = await run(withoutLisa(), { holdShare: 1 });
    const issues = await query(sql`select sourced_id, field, message from sync_issue where run_id = ${summary.runId} and code = 'unresolved_reference'`);
    expect(issues).toEqual([{ sourced_id: 'e3', field: 'userSourcedId', message: 'enrollment e3 references user u-lisa, which this run removes' }]);
  });

  test('an invalid record is rejected with the field and reason; the rest of the run lands', async () => {
    const batches = withRecords(smallDistrict(), 'org', (orgs) => [...orgs, { sourcedId: 'x1', name: 'Broken', type: 'campus' } as never]);
    const summary = await run(batches);
    expect(summary.counts.org).toMatchObject({ created: 3, rejected: 1 });
    const [issue] = await query(sql<{ field: string; code: string; message: string }>`select field, code, message from sync_issue where sourced_id = 'x1'`);
    expect(issue).toMatchObject({ field: 'type', code: 'invalid_value' });
    expect(issue!.message).toContain('campus');
  });

  test('a sourcedId sent twice in one run is rejected, every copy', async () => {
    const batches = smallDistrict();
    batches.push({ entity: 'org', records: [{ sourcedId: 's2', name: 'Other', type: 'school' }] });
    const summary = await run(batches);
    expect(summary.counts.org).toMatchObject({ created: 2, rejected: 2 });
    expect(await row('org', 's2')).toBeUndefined();
    const issues = await query(sql<{ code: string }>`select code from sync_issue where sourced_id = 's2' and entity = 'org'`);
    expect(issues).toEqual([{ code: 'duplicate_sourced_id' }]);
  });

  test('a row owned by another source is not taken over', async () => {
    await run(smallDistrict());
    const summary = await reconcile(db.orm, { ...defaults, source: 'lms', mode: 'delta', batches: [
      { entity: 'org', records: [{ sourcedId: 's1', name: 'Hijacked', type: 'school' }] },
    ] });
    expect(summary.counts.org).toMatchObject({ rejected: 1, updated: 0 });
    expect((await row('org', 's1'))!.name).toBe('Springfield High');
  });

  test('issues past the cap are counted but not stored', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ sourcedId: `bad-${i}`, name: '', type: 'school' }));
    const summary = await run([{ entity: 'org', records: records as never }], { issueCap: 10 });
    expect(summary.issues).toBe(30);
    const [{ n }] = (await query(sql<{ n: string }>`select count(*) as n from sync_issue where run_id = ${summary.runId}`)) as [{ n: string }];
    expect(Number(n)).toBe(10);
  });
});

describe('all-or-nothing runs and dry runs', () => {
  const withBadEnrollment = () => {
    const batches = smallDistrict();
    batches.push({
      entity: 'enrollment', file: 'enrollments.csv', lines: [7],
      records: [{ sourcedId: 'e-bad', classSourcedId: 'cl-missing', schoolSourcedId: 's1', userSourcedId: 'u-bart', role: 'student' }],
    });
    return batches;
  };

  test('one error and an atomic run applies nothing; issues carry the file and line', async () => {
    const summary = await run(withBadEnrollment(), { atomic: true });
    expect(summary.status).toBe('invalid');
    expect(summary.counts.org!.created).toBe(3);
    expect(await query(sql`select 1 from org union all select 1 from "user"`)).toEqual([]);
    const issues = await query(sql`select entity, sourced_id, field, file, line, code from sync_issue where run_id = ${summary.runId}`);
    expect(issues).toEqual([{ entity: 'enrollment', sourced_id: 'e-bad', field: 'classSourcedId', file: 'enrollments.csv', line: 7, code: 'unresolved_reference' }]);
    const stages = await query(sql`select relname from pg_class where relname like ${`stage_${summary.runId}_%`}`);
    expect(stages).toEqual([]);
  });

  test('errors a source reports count as errors; warnings do not block', async () => {
    const batches = smallDistrict();
    batches[0] = { ...batches[0]!, issues: [{ entity: 'org', sourcedId: null, field: 'grades', file: 'orgs.csv', line: 3, severity: 'warning', code: 'non_ceds_grade', message: 'not a CEDS grade' }] } as RecordBatch;
    const ok = await run(batches, { atomic: true });
    expect(ok.status).toBe('succeeded');
    expect(ok.issues).toBe(1);

    batches[0] = { ...batches[0]!, issues: [{ entity: 'org', sourcedId: 'x', field: 'type', file: 'orgs.csv', line: 4, severity: 'error', code: 'invalid_enum', message: 'bad' }] } as RecordBatch;
    const bad = await run(withRecords(batches, 'org', (orgs) => orgs.map((o) => ({ ...o, name: `${(o as { name: string }).name}!` }))), { atomic: true });
    expect(bad.status).toBe('invalid');
    expect((await row('org', 's1'))!.name).toBe('Springfield High');
  });

  test('a dry run reports what would happen and writes nothing', async () => {
    const dry = await run(smallDistrict(), { dryRun: true });
    expect(dry.status).toBe('validated');
    expect(dry.counts.user!.created).toBe(3);
    expect(await query(sql`select 1 from "user"`)).toEqual([]);
    expect((await run(withBadEnrollment(), { dryRun: true })).status).toBe('invalid');
    expect(await query(sql`select 1 from enrollment`)).toEqual([]);
  });
});

describe('safety holds', () => {
  const withoutClass = () =>
    withRecords(
      withRecords(smallDistrict(), 'class', (cs) => cs.filter((c) => c.sourcedId !== 'cl1')),
      'enrollment',
      () => [],
    );

  test('a run that would tombstone more than the share applies nothing and is held', async () => {
    await run(smallDistrict());
    const before = await stamps();
    const summary = await run(withoutClass());
    expect(summary.status).toBe('held');
    expect(summary.holdReason).toContain('3 of 3 enrollment rows (100%)');
    expect(summary.counts.enrollment!.tombstoned).toBe(3);
    expect(await stamps()).toEqual(before);
    expect((await row('class', 'cl1'))!.status).toBe('active');
  });

  test('approving a held run applies it as staged', async () => {
    await run(smallDistrict());
    const held = await run(withoutClass());
    const approved = await approveRun(db.orm, held.runId);
    expect(approved.status).toBe('succeeded');
    expect(approved.counts.enrollment!.tombstoned).toBe(3);
    expect((await row('class', 'cl1'))!.status).toBe('tobedeleted');
    expect((await row('enrollment', 'e1'))!.status).toBe('tobedeleted');
    await expect(approveRun(db.orm, held.runId)).rejects.toThrow(RunStateError);
  });

  test('rejecting a held run discards it; a superseded held run cannot be approved', async () => {
    await run(smallDistrict());
    const held = await run(withoutClass());
    await rejectRun(db.orm, held.runId);
    expect((await row('class', 'cl1'))!.status).toBe('active');
    const stages = await query(sql`select tablename from pg_tables where tablename like ${`stage_${held.runId}_%`}`);
    expect(stages).toEqual([]);

    const heldAgain = await run(withoutClass());
    await run(smallDistrict());
    await expect(approveRun(db.orm, heldAgain.runId)).rejects.toThrow(/superseded/);
  });
});

describe('one run per source at a time', () => {
  test('a second run of a busy source is refused; other sources go ahead', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* slow(): AsyncGenerator<RecordBatch> {
      yield smallDistrict()[0]!;
      await gate;
    }
    const first = run([], { batches: slow(), scope: ['org'] });
    await new Promise((r) => setTimeout(r, 200));
    await expect(run(smallDistrict())).rejects.toThrow(SourceBusyError);
    const other = await reconcile(db.orm, { ...defaults, source: 'other', mode: 'delta', batches: [
      { entity: 'org', records: [{ sourcedId: 'o1', name: 'Other', type: 'school' }] },
    ] });
    expect(other.status).toBe('succeeded');
    release();
    expect((await first).status).toBe('succeeded');
    // The lock goes with the run: the source is free again.
    expect((await run(smallDistrict())).status).toBe('succeeded');
  });
});
