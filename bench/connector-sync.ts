import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { SecretBox } from '../src/auth/secret-box.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import type { Connector } from '../src/sync/connector.ts';
import type { RunSummary } from '../src/sync/reconcile.ts';
import { memoryTokenStore } from '../src/sync/upstream-oauth.ts';
import { saveSource, syncSource, type SourceDeps } from '../src/sync/sources.ts';
import { markdownTable, measure, type Measured } from './measure.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * A connector's whole sync against its fake system (test/msw/*) served over real HTTP in this
 * process. Baseline: the connector's reading and mapping alone (every request of a run, nothing
 * written). Steps: first sync into an empty database, unchanged re-sync (which must write nothing).
 */
export async function connectorSyncBench(
  { orm }: BenchContext,
  options: {
    title: string;
    connector: Connector;
    /** Starts the fake at `base` (it serves what `fetch` answers) and returns the source's settings. */
    fake: (base: string) => {
      fetch: (request: Request) => Promise<Response>;
      requests: unknown[];
      settings: Record<string, unknown>;
      /** The refresh token that works now, for sources whose tokens rotate. */
      refreshToken?: () => string;
    };
    notes: (steps: { readOnly: Measured; first: Measured; again: Measured; requests: number }) => string[];
  },
): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const fake = options.fake(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  server.on('request', getRequestListener(fake.fetch));
  const deps: SourceDeps = {
    orm, box: new SecretBox(Buffer.alloc(32)), connectors: { [options.connector.kind]: options.connector },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  await saveSource(deps, { name: 'bench', kind: options.connector.kind, settings: fake.settings });
  const records = (counts: RunSummary['counts']) => Object.values(counts).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0);

  const sync = (label: string) =>
    measure(label, async () => {
      const summary = (await syncSource(deps, 'bench', 'manual'))!;
      if (summary.status !== 'succeeded') throw new Error(`sync ended ${summary.status}: ${summary.error ?? summary.holdReason}`);
      return { rows: records(summary.counts), summary };
    });
  const first = await sync('first sync (empty database)');
  const again = await sync('unchanged re-sync');
  // Measured last: the runs above rotated any refresh token, and the baseline must not spend the source's.
  const before = fake.requests.length;
  const readOnly = await measure('reading and mapping only', async () => {
    const pull = (await options.connector.open({
      source: { id: 0, name: 'read-only' }, settings: fake.settings, signal: new AbortController().signal, trigger: 'manual',
      logger: deps.logger, config: deps.config, orm, tokens: memoryTokenStore({ refreshToken: fake.refreshToken?.() }),
    }))!;
    let rows = 0;
    for await (const batch of pull.batches) rows += batch.records.length;
    await pull.finished?.(undefined);
    return { rows };
  });
  const requests = fake.requests.length - before;
  server.close();
  const written = Object.values(again.detail!.summary.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);
  if (written !== 0) throw new Error(`unchanged re-sync wrote ${written} rows`);
  return markdownTable(options.title, [readOnly, first, again], readOnly, [
    ...options.notes({ readOnly, first, again, requests }),
    `First sync: ${first.seconds.toFixed(1)} s; unchanged re-sync: ${again.seconds.toFixed(1)} s, writing ${written} rows.`,
  ]);
}
