import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { importPackage, type ImportOptions } from '../../standards/oneroster/csv/import.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fixture } from '../support/csv.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const query = async <T,>(q: ReturnType<typeof sql<T>>) => (await q.execute(db.orm.em.fork().getKysely())).rows;

beforeEach(async () => {
  await query(sql`truncate org, academic_session, course, class, "user", user_role, user_profile, enrollment,
    demographics, sync_issue, sync_run, source, sync_seen restart identity cascade`);
});

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

  test('importing it again changes nothing', async () => {
    await load(fixture('bulk'));
    const again = await load(fixture('bulk'));
    expect(again.status).toBe('succeeded');
    for (const c of Object.values(again.counts)) expect(c.created + c.updated + c.tombstoned).toBe(0);
  });
});
