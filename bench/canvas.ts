import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { canvas } from '../connectors/canvas/index.ts';
import { SecretBox } from '../src/auth/secret-box.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import type { RunSummary } from '../src/sync/reconcile.ts';
import { saveSource, syncSource, type SourceDeps } from '../src/sync/sources.ts';
import { bigCanvas, FakeCanvas } from '../test/msw/canvas.ts';
import { markdownTable, measure } from './measure.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * Canvas connector (issue #7): a local fake Canvas over real HTTP serves a district in pages of 100
 * (numbered pages, bookmarks for enrollments, Link headers), and the connector syncs it through
 * sources → reconcile. Baseline: the same run's reading and mapping alone (every request the
 * connector makes, nothing written). Reported: first sync, unchanged re-sync, and that the re-sync
 * writes nothing. Target: the district scale (20 000 users, 1 000 courses, 60 000 enrollments) in
 * under 60 s.
 */

const sizes = {
  small: { users: 2_000, courses: 100, perCourse: 60 },
  district: { users: 20_000, courses: 1_000, perCourse: 60 },
  large: { users: 60_000, courses: 3_000, perCourse: 60 },
} as const;

export async function canvasBench({ orm, scale }: BenchContext): Promise<string> {
  const size = sizes[scale];
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake = new FakeCanvas(base, bigCanvas(size));
  server.on('request', getRequestListener(fake.fetch));

  const deps: SourceDeps = {
    orm, box: new SecretBox(Buffer.alloc(32)), connectors: { canvas },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  const settings = { baseUrl: base, accountId: '1', accessToken: 'canvas-admin-token' };
  await saveSource(deps, { name: 'canvas-bench', kind: 'canvas', settings });
  const records = (counts: RunSummary['counts']) => Object.values(counts).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0);

  // Baseline: the connector's own reading and mapping, every batch drained and dropped.
  const readOnly = await measure('reading and mapping only', async () => {
    const pull = (await canvas.open({
      source: { id: 0, name: 'read-only' }, settings, signal: new AbortController().signal, trigger: 'manual',
      logger: deps.logger, config: deps.config, orm, updateSecrets: async () => {},
    }))!;
    let rows = 0;
    for await (const batch of pull.batches) rows += batch.records.length;
    return { rows, requests: fake.requests.length };
  });
  const sync = (label: string) =>
    measure(label, async () => {
      const summary = (await syncSource(deps, 'canvas-bench', 'manual'))!;
      if (summary.status !== 'succeeded') throw new Error(`sync ended ${summary.status}: ${summary.error ?? summary.holdReason}`);
      return { rows: records(summary.counts), summary };
    });
  const first = await sync('first sync (empty database)');
  const again = await sync('unchanged re-sync');
  server.close();
  const written = Object.values(again.detail!.summary.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);
  if (written !== 0) throw new Error(`unchanged re-sync wrote ${written} rows`);

  return markdownTable(`Canvas connector, ${scale} scale`, [readOnly, first, again], readOnly, [
    `A local fake Canvas (test/msw/canvas.ts over HTTP) serves ${size.users} users, ${size.courses} courses and ${size.courses * size.perCourse} enrollments in pages of 100; ${readOnly.detail!.requests} requests per full run, one at a time.`,
    `First sync: ${first.seconds.toFixed(1)} s; unchanged re-sync: ${again.seconds.toFixed(1)} s, writing ${written} rows.`,
    'Target (issue #7): the district scale in under 60 s; an unchanged re-sync writes zero rows.',
  ]);
}
