import { chmodSync, copyFileSync, mkdtempSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { connectors } from '../../connectors/index.ts';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { SecretBox } from '../../src/auth/secret-box.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { RunConnection } from '../../src/sync/copy.ts';
import { purgeRuns } from '../../src/sync/runs.ts';
import type { SourceDeps } from '../../src/sync/sources.ts';
import { fixture, zipOf } from '../support/csv.ts';
import { useTestDatabase } from '../support/db.ts';

/** A manual run of a source that is running already waits as a queued run (src/sync/queue.ts). */

const TOKEN = 'test-admin-token-0123456789abcdef0123456789';
const db = useTestDatabase();
const deps = (): SourceDeps => ({
  orm: db.orm, box: new SecretBox(Buffer.alloc(32, 3)), connectors, config: loadConfig({ DATA_DIR: './data/test-queued-runs' }), logger: createLogger('silent'),
});
let app: ReturnType<typeof createApp>;
beforeAll(() => {
  app = createApp({ ...deps(), tokens: new TokenIssuer('k'.repeat(40), 600), credential: credentialFromToken(TOKEN) });
});

const call = (method: string, path: string, body?: unknown) =>
  app.request(path, { method, headers: { Authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

test('a run asked for while the source is running is queued, once, and starts when the source is free', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'rg-api-queue-'));
  chmodSync(folder, 0o755);
  const source = (await (await call('POST', '/admin/sources', { name: 'queued-sis', kind: 'csv-folder', settings: { folder, settleSeconds: 0 } })).json()) as { id: number };
  const dropped = join(folder, 'roster.zip');
  copyFileSync(await zipOf(fixture('bulk')), dropped);
  utimesSync(dropped, new Date(Date.now() - 5000), new Date(Date.now() - 5000));

  // Another process is running the source: it holds the source's lock.
  const other = await RunConnection.open(db.orm.config.get('clientUrl')!);
  expect(await other.tryLockSource(source.id)).toBe(true);
  let runId: number;
  try {
    const asked = await call('POST', `/admin/sources/${source.id}/run`);
    expect(asked.status).toBe(202);
    const body = (await asked.json()) as { runId: number; queued: boolean };
    expect(body.queued).toBe(true);
    runId = body.runId;
    // Asking again answers with the same queued run.
    expect(await (await call('POST', `/admin/sources/${source.id}/run`)).json()).toMatchObject({ runId, queued: true });
    expect(await (await call('GET', `/admin/runs/${runId}`)).json()).toMatchObject({ status: 'queued', source: 'queued-sis' });
    expect(await (await call('GET', '/admin/runs?status=queued')).json()).toMatchObject({ total: 1 });
    // While the source is busy, a scheduler leaves it queued; it purges nothing queued either.
    const scheduler = new Scheduler(deps());
    await scheduler.startQueued();
    expect(await (await call('GET', `/admin/runs/${runId}`)).json()).toMatchObject({ status: 'queued' });
    expect(await purgeRuns(db.orm, -1)).toBeGreaterThanOrEqual(0);
    expect(await (await call('GET', `/admin/runs/${runId}`)).json()).toMatchObject({ status: 'queued' });
  } finally {
    await other.close();
  }
  // The source is free: the next scheduler poll starts the queued run as it is.
  await new Scheduler(deps()).startQueued();
  const run = (await (await call('GET', `/admin/runs/${runId}`)).json()) as { status: string; counts: Record<string, { created: number }> };
  expect(run.status).toBe('succeeded');
  expect(run.counts.user!.created).toBe(4);
  expect(await (await call('GET', '/admin/runs?status=queued')).json()).toMatchObject({ total: 0 });
});
