import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { readRecords } from '../../src/sync/read.ts';
import { ensureSource } from '../../src/sync/reconcile.ts';
import { tombstoneRow, writeRecord } from '../../src/sync/write.ts';
import { importPackage, type ImportOptions } from '../../standards/oneroster/csv/import.ts';
import { useTestDatabase } from '../support/db.ts';
import { fixture, replaceLine, variant, zipOf, type Edits } from '../support/csv.ts';

const db = useTestDatabase({ fresh: true });
const query = db.query;

const limits = { maxEntries: 64, maxFileBytes: 10_000_000, maxTotalBytes: 50_000_000 };
const load = (path: string, extra: Partial<ImportOptions> = {}) =>
  importPackage(db.orm, path, { holdShare: 0.3, batchSize: 1000, limits, ...extra });

const issuesOf = (runId: number) =>
  query(sql<{ file: string | null; line: number | null; field: string | null; code: string; severity: string; message: string }>`
    select file, line, field, code, severity, message from sync_issue where run_id = ${runId} order by file nulls first, line nulls first, id`);

describe('a valid 1.2 bulk package', () => {
  test('imports every file into the shared schema', async () => {
    const summary = await load(fixture('bulk'));
    expect(await issuesOf(summary.runId)).toEqual([]);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.org!.created).toBe(3);
    expect(summary.counts.user!.created).toBe(4);
    expect(summary.counts.enrollment!.created).toBe(3);
    const [bart] = await query(sql<Record<string, unknown>>`select * from "user" where sourced_id = 'u-bart'`);
    expect(bart).toMatchObject({
      user_ids: [{ type: 'SIS', identifier: '1001' }, { type: 'LDAP', identifier: 'bsimpson' }], agent_sourced_ids: ['u-homer'],
      middle_name: 'Jojo', metadata: { 'district.homeroom': 'H-12' }, primary_org_sourced_id: 's1',
    });
    const roles = await query(sql`select sourced_id, role_type, role, org_sourced_id from user_role where user_sourced_id = 'u-teach' order by sourced_id`);
    expect(roles).toEqual([
      { sourced_id: 'r1', role_type: 'primary', role: 'teacher', org_sourced_id: 's1' },
      { sourced_id: 'r5', role_type: 'secondary', role: 'teacher', org_sourced_id: 's2' },
    ]);
    const [lisa] = await query(sql<Record<string, unknown>>`select preferred_first_name from "user" where sourced_id = 'u-lisa'`);
    expect(lisa).toEqual({ preferred_first_name: 'Lis "the brain"' });
    const profiles = await query(sql`select profile_id, credentials from user_profile`);
    expect(profiles).toEqual([{ profile_id: 'p-lisa', credentials: [{ type: 'username', username: 'lisa.s' }] }]);
    const [cl2] = await query(sql<Record<string, unknown>>`select title, periods from class where sourced_id = 'cl2'`);
    expect(cl2).toEqual({ title: 'Algebra I, period 2', periods: ['2', '3'] });
    const [{ name }] = (await query(sql<{ name: string }>`select s.name from source s`)) as [{ name: string }];
    expect(name).toBe('springfield-sis');
  });

  test('importing the same records again changes nothing', async () => {
    await load(fixture('bulk'));
    // Other bytes (CRLF line endings), so every record is read and compared.
    const again = await load(variant('bulk', { 'users.csv': (t) => t.replace(/\n/g, '\r\n') }));
    expect(again.status).toBe('succeeded');
    expect(again.sameAs).toBeUndefined();
    for (const c of Object.values(again.counts)) expect(c.created + c.updated + c.tombstoned).toBe(0);
    expect(again.counts.user!.unchanged).toBe(4);
  });
});

describe('a package imported again, byte for byte', () => {
  const maxVersion = async () => (await query(sql<{ v: string }>`select last_value::text as v from change_version_seq`))[0]!.v;

  test('is not read again while the source\'s rows are as its last import left them', async () => {
    const first = await load(fixture('bulk'));
    const version = await maxVersion();
    let read = 0;
    const again = await load(fixture('bulk'), { onProgress: () => read++ });
    expect(again).toMatchObject({ status: 'succeeded', sameAs: first.runId, issues: 0 });
    expect(read).toBe(0);
    for (const [entity, c] of Object.entries(first.counts)) {
      expect(again.counts[entity]).toEqual({ created: 0, updated: 0, unchanged: c.created + c.updated + c.unchanged, tombstoned: 0, rejected: 0 });
    }
    expect(await maxVersion()).toBe(version);
    // A zip of the same files is the same package; the repeat itself is the run compared against next.
    const zipped = await load(await zipOf(fixture('bulk')), { onProgress: () => read++ });
    expect(zipped.sameAs).toBe(again.runId);
    expect(read).toBe(0);
    const [run] = await query(sql<{ same_as: string; input: string }>`select same_as::text, input from sync_run where id = ${again.runId}`);
    expect(run).toMatchObject({ same_as: String(first.runId), input: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  test('an edit through an API door since then is read again and put back', async () => {
    await load(fixture('bulk'));
    const api = await ensureSource(db.orm.em.fork(), 'api', 'api');
    const bart = (await readRecords(db.orm.em.fork(), 'user', ['u-bart'])).get('u-bart')!.record;
    await writeRecord(db.orm.em.fork(), api, 'user', { ...bart, familyName: 'Edited' } as never);
    const again = await load(fixture('bulk'));
    expect(again.sameAs).toBeUndefined();
    expect(again.counts.user).toMatchObject({ updated: 1, unchanged: 3 });
    expect(await query(sql`select family_name from "user" where sourced_id = 'u-bart'`)).toEqual([{ family_name: 'Simpson' }]);
  });

  test('a tombstone or a purge since then, a changed file, a dry run: each goes the whole way', async () => {
    await load(fixture('bulk'));
    await tombstoneRow(db.orm.em.fork(), 'enrollment', 'e3');
    const restored = await load(fixture('bulk'));
    expect(restored.sameAs).toBeUndefined();
    expect(restored.counts.enrollment).toMatchObject({ updated: 1 });

    await query(sql`delete from enrollment where sourced_id = 'e3'`);
    expect((await load(fixture('bulk'))).counts.enrollment).toMatchObject({ created: 1 });

    const changed = await load(variant('bulk', { 'courses.csv': (t) => t.replace('Algebra I', 'Algebra One') }));
    expect(changed.sameAs).toBeUndefined();
    expect(changed.counts.course).toMatchObject({ updated: 1 });

    const dry = await load(variant('bulk', { 'courses.csv': (t) => t.replace('Algebra I', 'Algebra One') }), { dryRun: true });
    expect(dry.status).toBe('validated');
    expect(dry.sameAs).toBeUndefined();
  });

  test('one whose import left issues is read again, to report them again', async () => {
    const warned = variant('bulk', { 'courses.csv': (t) => t.replace(',09,d1,', ',Grade9,d1,') });
    const first = await load(warned);
    expect(first.issues).toBe(1);
    const again = await load(warned);
    expect(again.sameAs).toBeUndefined();
    expect(await issuesOf(again.runId)).toEqual([expect.objectContaining({ code: 'non_ceds_grade' })]);
  });
});

describe('other valid packages', () => {
  test('a zip imports like the folder it was made from', async () => {
    const summary = await load(await zipOf(fixture('bulk')));
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.user!.created).toBe(4);
  });

  test('a delta package applies its changes and deletions and leaves the rest alone', async () => {
    await load(fixture('bulk'));
    // One of three enrollments deleted is past the default 30% share: allow it here.
    const summary = await load(fixture('delta'), { holdShare: 0.5 });
    expect(await issuesOf(summary.runId)).toEqual([]);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.org).toMatchObject({ updated: 1, tombstoned: 0 });
    expect(summary.counts.enrollment).toMatchObject({ created: 1, tombstoned: 1 });
    // u-lisa changed in users.csv; u-teach lost role r5 and u-bart gained r6 through roles.csv alone.
    expect(summary.counts.user).toMatchObject({ updated: 3, tombstoned: 0 });
    const roles = await query(sql`select user_sourced_id, sourced_id from user_role order by 1, 2`);
    expect(roles).toEqual([
      { user_sourced_id: 'u-bart', sourced_id: 'r2' }, { user_sourced_id: 'u-bart', sourced_id: 'r6' },
      { user_sourced_id: 'u-homer', sourced_id: 'r4' }, { user_sourced_id: 'u-lisa', sourced_id: 'r3' },
      { user_sourced_id: 'u-teach', sourced_id: 'r1' },
    ]);
    expect(await query(sql`select email from "user" where sourced_id = 'u-lisa'`)).toEqual([{ email: 'lisa@example.org' }]);
    expect(await query(sql`select status from enrollment where sourced_id = 'e3'`)).toEqual([{ status: 'tobedeleted' }]);
    expect(await query(sql`select count(*)::int as n from user_profile`)).toEqual([{ n: 1 }]);
  });

  test('a delta reference may resolve against stored data, not against nothing', async () => {
    const enrollment = (cls: string) => `sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e9,active,2024-10-01T08:00:00.000Z,${cls},s1,u-bart,student,,,
`;
    const onlyEnrollments = (cls: string) => variant('delta', { 'orgs.csv': null, 'users.csv': null, 'roles.csv': null, 'enrollments.csv': enrollment(cls),
      'manifest.csv': (t) => t.replace(/^file\.(orgs|users|roles),delta$/gm, 'file.$1,absent') });
    expect((await load(onlyEnrollments('cl1'))).status).toBe('invalid');
    await load(fixture('bulk'));
    expect((await load(onlyEnrollments('cl1'))).status).toBe('succeeded');
    const bad = await load(onlyEnrollments('cl404'));
    expect(await issuesOf(bad.runId)).toContainEqual(expect.objectContaining({ file: 'enrollments.csv', line: 2, code: 'unresolved_reference' }));
  });

  test('a OneRoster 1.1 package is converted: roles from the user row, administrators by org type', async () => {
    const summary = await load(fixture('v1p1'));
    expect(await issuesOf(summary.runId)).toEqual([]);
    expect(summary.counts.user!.created).toBe(5);
    const roles = await query(sql`select user_sourced_id, role_type, role, org_sourced_id from user_role order by 1, 2`);
    expect(roles).toEqual([
      { user_sourced_id: 'u-bart', role_type: 'primary', role: 'student', org_sourced_id: 's1' },
      { user_sourced_id: 'u-chalmers', role_type: 'primary', role: 'siteAdministrator', org_sourced_id: 's1' },
      { user_sourced_id: 'u-lisa', role_type: 'primary', role: 'student', org_sourced_id: 's1' },
      { user_sourced_id: 'u-skinner', role_type: 'primary', role: 'districtAdministrator', org_sourced_id: 'd1' },
      { user_sourced_id: 'u-teach', role_type: 'primary', role: 'teacher', org_sourced_id: 's1' },
      { user_sourced_id: 'u-teach', role_type: 'secondary', role: 'teacher', org_sourced_id: 's2' },
    ]);
  });

  test('users.csv of 1.2 before the 1.2.1 correction (with resourceSourcedIds) is accepted', async () => {
    const pre = variant('bulk', { 'users.csv': (t) => t.split('\n').map((l, i) => {
      if (!l) return l;
      const cells = l.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, ''));
      cells.splice(17, 0, i === 0 ? 'resourceSourcedIds' : '');
      return cells.slice(0, 24).join(',');
    }).join('\n') });
    const summary = await load(pre);
    expect(await issuesOf(summary.runId)).toEqual([]);
    expect(summary.status).toBe('succeeded');
  });

  test('ext: vocabulary values import; non-CEDS grades warn without blocking', async () => {
    const summary = await load(variant('bulk', {
      'orgs.csv': (t) => t.replace('Shelbyville High,school', 'Shelbyville High,ext:campus'),
      'courses.csv': (t) => t.replace(',09,d1,', ',Grade9,d1,'),
    }));
    expect(summary.status).toBe('succeeded');
    expect(await issuesOf(summary.runId)).toEqual([expect.objectContaining({ file: 'courses.csv', line: 2, code: 'non_ceds_grade', severity: 'warning' })]);
  });

  test('a dry run reports and writes nothing', async () => {
    const summary = await load(fixture('bulk'), { dryRun: true });
    expect(summary.status).toBe('validated');
    expect(summary.counts.user!.created).toBe(4);
    expect(await query(sql`select 1 from "user"`)).toEqual([]);
  });

  test('a bulk file replaces its entity: what is gone is tombstoned, past the share only after approval', async () => {
    await load(fixture('bulk'));
    const fewer = await load(variant('bulk', { 'enrollments.csv': (t) => t.replace('e3,,,cl1,s1,u-lisa,student,,,\n', '') }), { holdShare: 0.5 });
    expect(fewer.counts.enrollment).toMatchObject({ tombstoned: 1, unchanged: 2 });
    const most = await load(variant('bulk', { 'enrollments.csv': (t) => t.split('\n').slice(0, 2).join('\n') + '\n' }), { holdShare: 0.3 });
    expect(most.status).toBe('held');
    expect(await query(sql`select count(*)::int as n from enrollment where status = 'active'`)).toEqual([{ n: 2 }]);
  });
});

describe('unsafe packages are refused before anything is read', () => {
  test('a zip entry with a path, or one climbing out with ..', async () => {
    const nested = await load(await zipOf(fixture('bulk'), { 'orgs.csv': 'sub/orgs.csv' }));
    expect(await issuesOf(nested.runId)).toEqual([expect.objectContaining({ code: 'unsafe_entry_name' })]);
    const path = await zipOf(fixture('bulk'), { 'orgs.csv': 'ab/orgs.csv' });
    writeFileSync(path, Buffer.from(readFileSync(path).toString('latin1').replaceAll('ab/orgs.csv', '../orgs.csv'), 'latin1'));
    const climbing = await load(path);
    expect(climbing.status).toBe('invalid');
    expect(await issuesOf(climbing.runId)).toEqual([expect.objectContaining({ code: 'unsafe_entry_name' })]);
  });

  test('too many entries, a file too large, a package too large', async () => {
    const zip = await zipOf(fixture('bulk'));
    const codes = async (l: Partial<typeof limits>) => (await issuesOf((await load(zip, { limits: { ...limits, ...l } })).runId)).map((i) => i.code);
    expect(await codes({ maxEntries: 5 })).toEqual(['too_many_entries']);
    expect(await codes({ maxFileBytes: 300 })).toEqual(['file_too_large']);
    expect(await codes({ maxTotalBytes: 2000 })).toEqual(['package_too_large']);
  });

  test('a zip bomb: an entry that inflates past what it declares', async () => {
    const dir = variant('bulk', { 'users.csv': (t) => t + 'x'.repeat(0) });
    const path = await zipOf(dir);
    // Shrink the declared size of one entry in both headers: the real data now overflows it.
    const buf = readFileSync(path);
    const declared = statSync(join(dir, 'users.csv')).size;
    let patched = 0;
    for (let i = 0; i + 4 <= buf.length; i++) {
      if (buf.readUInt32LE(i) === declared && buf.readUInt32LE(i - 4) !== declared) {
        buf.writeUInt32LE(10, i);
        patched++;
      }
    }
    expect(patched).toBeGreaterThan(0);
    writeFileSync(path, buf);
    const summary = await load(path);
    expect(summary.status).toBe('invalid');
    expect(await issuesOf(summary.runId)).toEqual([expect.objectContaining({ file: 'users.csv', code: 'unreadable_file' })]);
    expect(await query(sql`select 1 from org`)).toEqual([]);
  });

  test('something that is not a zip', async () => {
    const dir = variant('bulk', {});
    const summary = await load(join(dir, 'orgs.csv'));
    expect(await issuesOf(summary.runId)).toEqual([expect.objectContaining({ code: 'not_a_zip' })]);
  });
});

const deltaManifest = (text: string) => text.replace(/,bulk$/gm, ',delta');

interface Case {
  name: string;
  edits: Edits;
  error: { code: string; file: string | null; line: number | null; field?: string | null };
}

/** One broken rule per package; each must be reported exactly and change nothing. */
const invalid: Case[] = [
  { name: 'a spec column is missing', edits: { 'orgs.csv': (t) => t.replace(',identifier,', ',').replace(/,NCES-1,|,101,|,102,/g, ',') }, error: { code: 'missing_columns', file: 'orgs.csv', line: 1, field: 'identifier' } },
  { name: 'spec columns are reordered', edits: { 'orgs.csv': replaceLine(1, 'sourcedId,status,dateLastModified,type,name,identifier,parentSourcedId') }, error: { code: 'column_order', file: 'orgs.csv', line: 1, field: 'type' } },
  { name: 'an extension column is not metadata.*', edits: { 'users.csv': (t) => t.replace('metadata.district.homeroom', 'homeroom') }, error: { code: 'unknown_column', file: 'users.csv', line: 1, field: 'homeroom' } },
  { name: 'an extension column is not at the end', edits: { 'orgs.csv': (t) => t.split('\n').map((l, i) => (l ? l.replace(/^([^,]*,[^,]*,[^,]*,)/, `$1${i === 0 ? 'metadata.x' : ''},`) : l)).join('\n') }, error: { code: 'extension_not_last', file: 'orgs.csv', line: 1, field: 'metadata.x' } },
  { name: 'a required field is empty', edits: { 'users.csv': (t) => t.replace(',Bart,Simpson,', ',,Simpson,') }, error: { code: 'required', file: 'users.csv', line: 3, field: 'givenName' } },
  { name: 'an enum value is unknown', edits: { 'orgs.csv': (t) => t.replace('Springfield High,school', 'Springfield High,campus') }, error: { code: 'invalid_enum', file: 'orgs.csv', line: 3, field: 'type' } },
  { name: 'a date is malformed', edits: { 'academicSessions.csv': (t) => t.replace('schoolYear,2024-08-15', 'schoolYear,2024-8-15') }, error: { code: 'invalid_date', file: 'academicSessions.csv', line: 2, field: 'startDate' } },
  { name: 'a date does not exist', edits: { 'demographics.csv': (t) => t.replace('2010-04-01', '2010-02-30') }, error: { code: 'invalid_date', file: 'demographics.csv', line: 2, field: 'birthDate' } },
  { name: 'a boolean is not lower-case true/false', edits: { 'users.csv': (t) => t.replace('u-teach,,,true', 'u-teach,,,TRUE') }, error: { code: 'invalid_boolean', file: 'users.csv', line: 2, field: 'enabledUser' } },
  { name: 'a list has an empty item', edits: { 'classes.csv': (t) => t.replace('s1,t1,', 's1,"t1,",') }, error: { code: 'invalid_list', file: 'classes.csv', line: 2, field: 'termSourcedIds' } },
  { name: 'userIds are not {type:id} items', edits: { 'users.csv': (t) => t.replace('"{SIS:1001},{LDAP:bsimpson}"', 'SIS:1001') }, error: { code: 'invalid_user_ids', file: 'users.csv', line: 3, field: 'userIds' } },
  { name: 'subjects and subjectCodes differ in length', edits: { 'courses.csv': (t) => t.replace('Mathematics,MA1', '"Mathematics,Science",MA1') }, error: { code: 'subjects_length_mismatch', file: 'courses.csv', line: 2, field: 'subjectCodes' } },
  { name: 'a sourcedId appears twice', edits: { 'enrollments.csv': (t) => `${t}e2,,,cl1,s1,u-lisa,student,,,\n` }, error: { code: 'duplicate_sourced_id', file: 'enrollments.csv', line: 3, field: 'sourcedId' } },
  { name: 'a bulk row has a status', edits: { 'orgs.csv': (t) => t.replace('d1,,,', 'd1,active,,') }, error: { code: 'field_forbidden_in_bulk', file: 'orgs.csv', line: 2, field: 'status' } },
  { name: 'a bulk row has a dateLastModified', edits: { 'orgs.csv': (t) => t.replace('d1,,,', 'd1,,2024-09-01T12:00:00.000Z,') }, error: { code: 'field_forbidden_in_bulk', file: 'orgs.csv', line: 2, field: 'dateLastModified' } },
  { name: 'a row has too few fields', edits: { 'users.csv': replaceLine(4, 'u-lisa,,,true,lsimpson') }, error: { code: 'field_count', file: 'users.csv', line: 4, field: null } },
  { name: 'a quoted field is never closed', edits: { 'orgs.csv': (t) => t.replace('s2,,,Shelbyville High', 's2,,,"Shelbyville High') }, error: { code: 'malformed_csv', file: 'orgs.csv', line: 4, field: null } },
  { name: 'a reference does not resolve within the package', edits: { 'enrollments.csv': (t) => t.replace('e3,,,cl1', 'e3,,,cl9') }, error: { code: 'unresolved_reference', file: 'enrollments.csv', line: 4, field: 'classSourcedId' } },
  { name: 'a role names a user not in users.csv', edits: { 'roles.csv': (t) => `${t}r9,,,u-nobody,primary,student,,,s1,\n` }, error: { code: 'unresolved_reference', file: 'roles.csv', line: 7, field: 'userSourcedId' } },
  { name: 'a user has no role', edits: { 'roles.csv': (t) => t.replace('r4,,,u-homer,primary,parent,,,d1,\n', '') }, error: { code: 'user_without_role', file: 'users.csv', line: 5, field: 'roles' } },
  { name: 'the manifest declares a file the package lacks', edits: { 'demographics.csv': null }, error: { code: 'file_missing', file: 'manifest.csv', line: 10, field: 'file.demographics' } },
  { name: 'the package has a file the manifest calls absent', edits: { 'manifest.csv': (t) => t.replace('file.demographics,bulk', 'file.demographics,absent') }, error: { code: 'file_not_declared', file: 'manifest.csv', line: 10, field: 'file.demographics' } },
  { name: 'the OneRoster version is unknown', edits: { 'manifest.csv': (t) => t.replace('oneroster.version,1.2', 'oneroster.version,2.0') }, error: { code: 'oneroster_version', file: 'manifest.csv', line: 3, field: 'oneroster.version' } },
  { name: 'the manifest is missing', edits: { 'manifest.csv': null }, error: { code: 'manifest_missing', file: 'manifest.csv', line: null, field: null } },
  { name: 'a delta row lacks its status', edits: { 'manifest.csv': deltaManifest, 'orgs.csv': (t) => t.replace(/^(d1|s1|s2),,,/gm, '$1,active,2024-09-01T12:00:00.000Z,').replace('d1,active,', 'd1,,') }, error: { code: 'field_required_in_delta', file: 'orgs.csv', line: 2, field: 'status' } },
  // Gradebook files.
  { name: 'a score is not a number', edits: { 'results.csv': (t) => t.replace('fully graded,92.5', 'fully graded,high') }, error: { code: 'invalid_number', file: 'results.csv', line: 2, field: 'score' } },
  { name: 'a scoreStatus is unknown', edits: { 'results.csv': (t) => t.replace('u-lisa,exempt', 'u-lisa,excused') }, error: { code: 'invalid_enum', file: 'results.csv', line: 3, field: 'scoreStatus' } },
  { name: 'an assignDate is not a UTC date-time', edits: { 'lineItems.csv': (t) => t.replace('2024-09-01T08:00:00.000Z', '2024-09-01 08:00') }, error: { code: 'invalid_datetime', file: 'lineItems.csv', line: 2, field: 'assignDate' } },
  { name: 'a scoreScaleValue is not {lhs:rhs} items', edits: { 'scoreScales.csv': (t) => t.replace('"{90:A},{80:B},{0:F}"', '90=A') }, error: { code: 'invalid_score_scale_value', file: 'scoreScales.csv', line: 2, field: 'scoreScaleValue' } },
  { name: 'a lineItem names a category that does not exist', edits: { 'lineItems.csv': (t) => t.replace('cl1,cat-test', 'cl1,cat-quiz') }, error: { code: 'unresolved_reference', file: 'lineItems.csv', line: 3, field: 'categorySourcedId' } },
  { name: 'a result names a lineItem that does not exist', edits: { 'results.csv': (t) => t.replace('res3,,,li2', 'res3,,,li9') }, error: { code: 'unresolved_reference', file: 'results.csv', line: 4, field: 'lineItemSourcedId' } },
  { name: 'a link row names a lineItem not in lineItems.csv', edits: { 'lineItemLearningObjectiveIds.csv': (t) => t.replace('lilo2,,,li1', 'lilo2,,,li7') }, error: { code: 'unresolved_reference', file: 'lineItemLearningObjectiveIds.csv', line: 3, field: 'lineItemSourcedId' } },
  { name: 'a lineItem is linked to two score scales', edits: {
    'scoreScales.csv': (t) => `${t}ss2,,,Pass/fail,binary,s1,,cl1,"{1:Pass},{0:Fail}"\n`,
    'lineItemScoreScales.csv': (t) => `${t}liss2,,,,li1,ss2\n`,
  }, error: { code: 'several_score_scales', file: 'lineItemScoreScales.csv', line: 2, field: 'scoreScaleSourcedId' } },
];

describe('gradebook files', () => {
  test('lineItems, results, categories and scales land with their link rows folded in', async () => {
    const summary = await load(fixture('bulk'));
    expect(summary.counts.lineItem).toMatchObject({ created: 2 });
    expect(summary.counts.result).toMatchObject({ created: 3 });
    const [li1] = await query(sql<Record<string, unknown>>`select score_scale_sourced_id, learning_objective_set, result_value_max, assign_date from line_item where sourced_id = 'li1'`);
    expect(li1).toEqual({
      score_scale_sourced_id: 'ss1', result_value_max: 100, assign_date: '2024-09-01 08:00:00+00',
      learning_objective_set: [{ source: 'case', learningObjectiveIds: ['6b9b8a74-0000-4000-8000-000000000001', '6b9b8a74-0000-4000-8000-000000000002'] }],
    });
    const [res1] = await query(sql<Record<string, unknown>>`select score, text_score, late, in_progress, score_scale_sourced_id, learning_objective_set from result where sourced_id = 'res1'`);
    expect(res1).toEqual({
      score: 92.5, text_score: 'A-', late: true, in_progress: false, score_scale_sourced_id: 'ss1',
      learning_objective_set: [{ source: 'case', learningObjectiveResults: [{ learningObjectiveId: '6b9b8a74-0000-4000-8000-000000000001', score: 3, textScore: 'Proficient' }] }],
    });
    expect(await query(sql`select score_scale_value from score_scale`)).toEqual([{ score_scale_value: [{ itemValueLHS: '90', itemValueRHS: 'A' }, { itemValueLHS: '80', itemValueRHS: 'B' }, { itemValueLHS: '0', itemValueRHS: 'F' }] }]);
  });

  test('a result for a student not in the class is a warning: a SIS keeps the grades of students who left', async () => {
    const summary = await load(variant('bulk', { 'results.csv': (t) => t.replace('res3,,,li2,u-lisa', 'res3,,,li2,u-teach') }));
    expect(summary.status).toBe('succeeded');
    expect(await issuesOf(summary.runId)).toEqual([expect.objectContaining({ file: 'results.csv', line: 4, field: 'studentSourcedId', code: 'student_not_enrolled', severity: 'warning' })]);
  });

  test('a delta link file changes the stored links; an absent one keeps them', async () => {
    await load(fixture('bulk'));
    const manifest = (t: string) => t.replace(/,bulk/g, ',absent').replace('file.lineItems,absent', 'file.lineItems,delta')
      .replace('file.lineItemLearningObjectiveIds,absent', 'file.lineItemLearningObjectiveIds,delta');
    const stamp = '2024-11-01T00:00:00.000Z';
    const keep = ['manifest.csv', 'lineItems.csv', 'lineItemLearningObjectiveIds.csv'];
    const delta = variant('bulk', {
      ...Object.fromEntries(readdirSync(fixture('bulk')).filter((f) => !keep.includes(f)).map((f) => [f, null])),
      'manifest.csv': manifest,
      'lineItems.csv': (t) => `${t.split('\n')[0]}\nli1,active,${stamp},Chapter 1 homework (revised),,2024-09-01T08:00:00.000Z,2024-09-08T23:59:00.000Z,cl1,cat-hw,t1,0,100,s1\n`,
      'lineItemLearningObjectiveIds.csv': (t) => `${t.split('\n')[0]}\nlilo2,tobedeleted,${stamp},li1,case,6b9b8a74-0000-4000-8000-000000000002\n`,
    });
    const summary = await load(delta);
    expect(await issuesOf(summary.runId)).toEqual([]);
    expect(summary.counts.lineItem).toMatchObject({ updated: 1 });
    expect(await query(sql`select title, score_scale_sourced_id, learning_objective_set from line_item where sourced_id = 'li1'`)).toEqual([{
      title: 'Chapter 1 homework (revised)', score_scale_sourced_id: 'ss1',
      learning_objective_set: [{ source: 'case', learningObjectiveIds: ['6b9b8a74-0000-4000-8000-000000000001'] }],
    }]);
  });
});

describe('invalid packages: the exact error, and nothing changes', () => {
  test.each(invalid)('$name', async ({ edits, error }) => {
    const summary = await load(variant('bulk', edits));
    expect(summary.status).toBe('invalid');
    const issues = (await issuesOf(summary.runId)).filter((i) => i.severity === 'error');
    expect(issues.length).toBeGreaterThan(0);
    expect(issues).toContainEqual(expect.objectContaining({ ...error, field: error.field ?? null }));
    expect(await query(sql`select 1 from org union all select 1 from "user" union all select 1 from enrollment`)).toEqual([]);
  });

  test('the report lists every error, not only the first', async () => {
    const summary = await load(variant('bulk', {
      'orgs.csv': (t) => t.replace('Springfield High,school', 'Springfield High,campus'),
      'users.csv': (t) => t.replace('u-teach,,,true', 'u-teach,,,yes'),
      'enrollments.csv': (t) => t.replace('e3,,,cl1', 'e3,,,cl9'),
    }));
    const codes = (await issuesOf(summary.runId)).map((i) => `${i.file}:${i.line}:${i.code}`);
    expect(codes).toEqual(expect.arrayContaining(['orgs.csv:3:invalid_enum', 'users.csv:2:invalid_boolean', 'enrollments.csv:4:unresolved_reference']));
  });

  test('one bad row is reported once, not once per record that points at it', async () => {
    const broken = () => variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High,school', 'Springfield High,campus') });
    const first = await load(broken());
    expect((await issuesOf(first.runId)).map((i) => `${i.file}:${i.line}:${i.code}`)).toEqual(['orgs.csv:3:invalid_enum']);
    await load(fixture('bulk'));
    const later = await load(broken());
    expect((await issuesOf(later.runId)).map((i) => `${i.file}:${i.line}:${i.code}`)).toEqual(['orgs.csv:3:invalid_enum']);
    expect(later.counts.org).toMatchObject({ rejected: 1, tombstoned: 0 });
  });

  test('a stored package stays as it was when a later one is invalid', async () => {
    await load(fixture('bulk'));
    const bad = await load(variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High,school', 'Renamed High,campus') }));
    expect(bad.status).toBe('invalid');
    expect(await query(sql`select name from org where sourced_id = 's1'`)).toEqual([{ name: 'Springfield High' }]);
  });
});
