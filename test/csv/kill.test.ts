import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { writeCsvPackage } from '../../bench/csv-import.ts';
import { createLogger } from '../../src/log.ts';
import { sweepOrphanedRuns } from '../../src/schedule/scheduler.ts';
import { useTestDatabase } from '../support/db.ts';

/**
 * Issue #11: a gateway killed with SIGKILL in the middle of a CSV import leaves the database with
 * the whole import or none of it; the run it left open is closed as failed and its stage dropped.
 */

const db = useTestDatabase({ fresh: true });
const dir = join(process.cwd(), 'data', 'test-kill-package');
beforeAll(async () => {
  await writeCsvPackage('small', dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the import in a process of its own; `kill` (given the run id) decides when to SIGKILL it. */
async function importInChild(kill?: (runId: number) => Promise<void>) {
  const child = spawn(process.execPath, [join(process.cwd(), 'test/support/import-child.ts'), db.url, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += String(d)));
  while (!/run \d+/.test(out)) await once(child.stdout!, 'data');
  const started = Date.now();
  const runId = Number(/run (\d+)/.exec(out)![1]);
  const exited = once(child, 'exit');
  if (kill) void kill(runId).then(() => child.kill('SIGKILL'));
  await exited;
  return { runId, finished: out.includes('done'), ms: Date.now() - started };
}

const counts = async () => {
  const [row] = await db.query(sql<{ orgs: number; users: number; roles: number; enrollments: number; demographics: number }>`select
    (select count(*)::int from org) as orgs, (select count(*)::int from "user") as users, (select count(*)::int from user_role) as roles,
    (select count(*)::int from enrollment) as enrollments, (select count(*)::int from demographics) as demographics`);
  return row!;
};

test('SIGKILL at any point of a CSV import: the database holds the whole import or none of it', { timeout: 180_000 }, async () => {
  const whole = await importInChild();
  expect(whole.finished).toBe(true);
  const full = await counts();
  expect(full.enrollments).toBeGreaterThan(1000);
  const empty = { orgs: 0, users: 0, roles: 0, enrollments: 0, demographics: 0 };
  const seen = new Set<string>();
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  /** Once the run has staged and checked everything (its scope is recorded just before it applies). */
  const applying = async (runId: number) => {
    for (let i = 0; i < 2000; i++) {
      const [row] = await db.query(sql<{ ready: boolean }>`select bulk_scope is not null as ready from sync_run where id = ${runId}`);
      if (row?.ready) return;
      await sleep(2);
    }
  };
  // Kill points across the whole import: reading and staging, then the apply (its transaction) at several depths.
  const kills: ((runId: number) => Promise<void>)[] = [
    ...[0.1, 0.4, 0.7].map((share) => () => sleep(Math.round(whole.ms * share))),
    ...[0, 50, 100, 150, 200, 250, 400].map((after) => async (runId: number) => {
      await applying(runId);
      await sleep(after);
    }),
  ];
  for (const kill of kills) {
    await db.query(sql`truncate org, academic_session, course, class, "user", user_role, user_profile, enrollment, demographics,
      sync_issue, sync_run, source, sync_seen restart identity cascade`);
    const killed = await importInChild(kill);
    const now = await counts();
    if (killed.finished) expect(now).toEqual(full);
    else expect([empty, full]).toContainEqual(now);
    seen.add(JSON.stringify(now) === JSON.stringify(empty) ? 'none' : 'whole');
    // The run it left open is closed as failed, its stage dropped. The dead process's server backends end a
    // moment after it (the one holding the source's lock among them): until then a sweep leaves the run be.
    const status = async () => (await db.query(sql<{ status: string }>`select status from sync_run where id = ${killed.runId}`))[0]!.status;
    for (let i = 0; i < 100; i++) {
      await sweepOrphanedRuns({ orm: db.orm, logger: createLogger('silent') });
      if ((await status()) !== 'running') break;
      await sleep(50);
    }
    expect(['failed', 'succeeded']).toContain(await status());
    const stages = await db.query(sql<{ n: number }>`select count(*)::int as n from pg_tables where tablename like ${`stage_${killed.runId}_%`}`);
    expect(stages[0]!.n).toBe(0);
  }
  // The early kills applied nothing.
  expect(seen.has('none')).toBe(true);
});
