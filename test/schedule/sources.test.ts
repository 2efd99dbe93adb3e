import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { SecretBox } from '../../src/auth/secret-box.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { Scheduler, sweepOrphanedRuns } from '../../src/schedule/scheduler.ts';
import { RunConnection } from '../../src/sync/copy.ts';
import { listRuns, purgeRuns } from '../../src/sync/runs.ts';
import { getSource, listSources, saveSource, SourceError, syncSource, testSource, type SourceDeps } from '../../src/sync/sources.ts';
import { useTestDatabase } from '../support/db.ts';
import { fakeConnector } from '../support/fake-connector.ts';

const db = useTestDatabase({ fresh: true });
const key = randomBytes(32);
const deps = (): SourceDeps => ({
  orm: db.orm, box: new SecretBox(key), connectors: { fake: fakeConnector }, config: loadConfig({ DATA_DIR: './data/test-sources', SYNC_HOLD_SHARE: '0.5' }), logger: createLogger('silent'),
});
const runs = async () => (await db.query(sql<{ id: number; status: string; trigger: string; started: string; finished: string | null }>`
  select id::int as id, status, trigger, started_at as started, finished_at as finished from sync_run order by id`))
  .map((r) => ({ ...r, started: new Date(r.started), finished: r.finished ? new Date(r.finished) : null }));

describe('sources', () => {
  test('secrets are sealed at rest and never come back; settings, schedule and timezone are checked', async () => {
    const view = await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 'very-secret-token-123', delayMs: 0 }, schedule: '0 */6 * * *', timezone: 'America/Chicago' });
    expect(view).toMatchObject({ name: 'lms', kind: 'fake', settings: { delayMs: 0, complete: true }, secretsSet: ['token'], schedule: '0 */6 * * *', enabled: true });
    expect(view.nextRuns).toHaveLength(3);
    expect(JSON.stringify(view)).not.toContain('very-secret-token-123');
    const [row] = await db.query(sql<{ all: string }>`select row_to_json(s)::text as all from source s where name = 'lms'`);
    expect(row!.all).not.toContain('very-secret-token-123');
    expect(await testSource(deps(), 'lms')).toBe('token of 21 characters');
    // An update that leaves the secret out keeps it.
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { delayMs: 5 } }, view.id);
    expect(await testSource(deps(), view.id)).toBe('token of 21 characters');
    await expect(saveSource(deps(), { name: 'x', kind: 'nope', settings: {} })).rejects.toThrow(SourceError);
    await expect(saveSource(deps(), { name: 'x', kind: 'fake', settings: { token: 't' }, schedule: 'every day' })).rejects.toThrow(/cron/);
    await expect(saveSource(deps(), { name: 'x', kind: 'fake', settings: { token: 't' }, timezone: 'Mars/Olympus' })).rejects.toThrow(/time zone/);
    await expect(saveSource(deps(), { name: 'x', kind: 'fake', settings: {} })).rejects.toThrow(/token/);
    await expect(saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't' } })).rejects.toMatchObject({ kind: 'conflict' });
    expect((await listSources(deps())).map((s) => s.name)).toEqual(['lms']);
    const other = new SecretBox(randomBytes(32));
    expect(() => other.open(new SecretBox(key).seal({ a: 1 }))).toThrow();
  });

  test('a sync goes through reconcile; a listing the connector calls incomplete tombstones nothing', async () => {
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't' } });
    const first = await syncSource(deps(), 'lms', 'manual');
    expect(first).toMatchObject({ status: 'succeeded' });
    const src = (await getSource(deps(), 'lms'))!;
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { without: 'e3', complete: false } }, src.id);
    const partial = await syncSource(deps(), 'lms', 'manual');
    expect(partial!.counts.enrollment!.tombstoned).toBe(0);
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { without: 'e3', complete: true } }, src.id);
    const full = await syncSource(deps(), 'lms', 'manual');
    expect(full!.counts.enrollment!.tombstoned).toBe(1);
    expect((await getSource(deps(), 'lms'))!.lastRun).toMatchObject({ id: full!.runId, status: 'succeeded' });
  });
});

describe('a source that cannot start', () => {
  test('leaves a failed run with the reason', async () => {
    const broken = { ...fakeConnector, kind: 'broken', open: async () => { throw new Error('401 Unauthorized: token expired'); } };
    const d = { ...deps(), connectors: { broken } };
    await saveSource(d, { name: 'lms', kind: 'broken', settings: { token: 't' } });
    const summary = await syncSource(d, 'lms', 'schedule');
    expect(summary).toMatchObject({ status: 'failed', error: 'could not start: 401 Unauthorized: token expired' });
    expect(await runs()).toEqual([expect.objectContaining({ id: summary!.runId, status: 'failed', trigger: 'schedule' })]);
    expect((await getSource(d, 'lms'))!.lastRun).toMatchObject({ status: 'failed' });
  });
});

describe('scheduler', () => {
  test('runs a scheduled source on its schedule, skips ticks while it is still running, and stops cleanly', async () => {
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't', delayMs: 1500 }, schedule: '* * * * * *' });
    const scheduler = new Scheduler(deps());
    await scheduler.start(60);
    expect(scheduler.scheduled()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 3500));
    await scheduler.stop();
    const done = await runs();
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(done.length).toBeLessThanOrEqual(2);
    expect(done.every((r) => r.trigger === 'schedule')).toBe(true);
  });

  test('a disabled source is unscheduled on reload', async () => {
    const view = await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't' }, schedule: '0 0 * * *' });
    const scheduler = new Scheduler(deps());
    await scheduler.start(60);
    expect(scheduler.scheduled()).toEqual([view.id]);
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: {}, schedule: '0 0 * * *', enabled: false }, view.id);
    await scheduler.reload();
    expect(scheduler.scheduled()).toEqual([]);
    await scheduler.stop();
  });

  test('two gateway processes on one database never run a source twice at once', { timeout: 60_000 }, async () => {
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't', delayMs: 1200 }, schedule: '* * * * * *' });
    const child = () => spawn(process.execPath, [join(process.cwd(), 'test/support/scheduler-child.ts'), db.url, key.toString('base64'), '5'], { stdio: 'inherit' });
    const children = [child(), child()];
    await Promise.all(children.map((c) => once(c, 'exit')));
    const done = (await runs()).filter((r) => r.finished);
    expect(done.length).toBeGreaterThanOrEqual(2);
    const sorted = [...done].sort((a, b) => a.started.getTime() - b.started.getTime());
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.started.getTime()).toBeGreaterThanOrEqual(sorted[i - 1]!.finished!.getTime());
  });

  test('a process killed (SIGKILL) mid-run applies nothing, and a live process closes its run as failed', { timeout: 60_000 }, async () => {
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't', delayMs: 20_000 } });
    const child = spawn(process.execPath, [join(process.cwd(), 'test/support/sync-child.ts'), db.url, key.toString('base64'), 'lms'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const runId = Number(/run (\d+)/.exec(String(line))![1]);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect((await db.query(sql<{ status: string }>`select status from sync_run where id = ${runId}`))[0]!.status).toBe('running');
    // The other process notices within a poll, not only when it restarts.
    const scheduler = new Scheduler(deps());
    await scheduler.start(1);
    try {
      for (let i = 0; i < 50; i++) {
        const [row] = await db.query(sql<{ status: string }>`select status from sync_run where id = ${runId}`);
        if (row!.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await scheduler.stop();
    }
    const [row] = await db.query(sql<{ status: string; error: string }>`select status, error from sync_run where id = ${runId}`);
    expect(row).toMatchObject({ status: 'failed', error: expect.stringMatching(/stopped before it finished/) });
    // Nothing of the run reached the shared schema, and its stage is gone.
    const counts = await db.query(sql<{ n: number }>`select (select count(*) from org) + (select count(*) from "user") + (select count(*) from enrollment) as n`);
    expect(Number(counts[0]!.n)).toBe(0);
    const stages = await db.query(sql<{ n: number }>`select count(*)::int as n from pg_tables where tablename like ${`stage_${runId}_%`}`);
    expect(stages[0]!.n).toBe(0);
  });

  test('finished runs past the retention are deleted with their issues; held and running runs stay', async () => {
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't' } });
    await db.query(sql`insert into sync_run (source_id, mode, status, started_at, finished_at)
      select id, 'bulk', s, now() - interval '100 days', case when s in ('held', 'running') then null else now() - interval '100 days' end
      from source, unnest(array['succeeded', 'failed', 'held', 'running']) as s`);
    await db.query(sql`insert into sync_run (source_id, mode, status, finished_at) select id, 'bulk', 'succeeded', now() from source`);
    await db.query(sql`insert into sync_issue (run_id, entity, severity, code, message) select id, 'org', 'error', 'x', 'y' from sync_run`);
    expect(await purgeRuns(db.orm, 90)).toBe(2);
    expect((await db.query(sql<{ status: string }>`select status from sync_run order by id`)).map((r) => r.status)).toEqual(['held', 'running', 'succeeded']);
    expect((await db.query(sql<{ n: number }>`select count(*)::int as n from sync_issue`))[0]!.n).toBe(3);
    const [{ src }] = (await db.query(sql<{ src: string }>`select name as src from source`)) as [{ src: string }];
    expect((await listRuns(db.orm, { source: src, limit: 10, offset: 0 })).total).toBe(3);
    expect((await listRuns(db.orm, { source: 'other', limit: 10, offset: 0 })).total).toBe(0);
  });

  test('a run left running by a dead process is closed as failed; a live one is left alone', async () => {
    await saveSource(deps(), { name: 'lms', kind: 'fake', settings: { token: 't' } });
    await saveSource(deps(), { name: 'sis', kind: 'fake', settings: { token: 't' } });
    await db.query(sql`insert into sync_run (source_id, mode, status) select id, 'bulk', 'running' from source order by name`);
    const live = await RunConnection.open(db.url);
    const [sis] = await db.query(sql<{ id: number }>`select id from source where name = 'sis'`);
    expect(await live.tryLockSource(sis!.id)).toBe(true);
    const closed = await sweepOrphanedRuns(deps());
    await live.close();
    const states = await db.query(sql`select s.name, r.status from sync_run r join source s on s.id = r.source_id order by s.name`);
    expect(states).toEqual([{ name: 'lms', status: 'failed' }, { name: 'sis', status: 'running' }]);
    expect(closed).toHaveLength(1);
  });
});
