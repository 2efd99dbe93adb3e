import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { SecretBox } from '../src/auth/secret-box.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import type { Connector } from '../src/sync/connector.ts';
import { HttpClient, linkNext } from '../src/sync/http.ts';
import type { RunSummary } from '../src/sync/reconcile.ts';
import { entityNames } from '../src/sync/entities.ts';
import type { EntityName, RecordBatch } from '../src/sync/records.ts';
import { saveSource, syncSource } from '../src/sync/sources.ts';
import { generateDistrict } from './generate.ts';
import { markdownTable, measure, type Measured } from './measure.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * A whole sync through the connector path: a local fake source serves the district as JSON pages
 * of 100 records with Link headers, a connector pulls them with the shared HTTP client, and the
 * run goes through sources → reconcile. Reported: how much of the run is spent outside fetching
 * (waiting for pages), first sync and unchanged re-sync, and that the re-sync writes nothing.
 */

const PAGE = 100;

/** The district as pages, entity by entity, in memory of the fake server (it is the source system). */
function pagesOf(scale: BenchContext['scale']) {
  const byEntity = new Map<EntityName, unknown[]>();
  for (const batch of generateDistrict({ scale })) {
    const list = byEntity.get(batch.entity) ?? [];
    for (const r of batch.records) list.push(r);
    byEntity.set(batch.entity, list);
  }
  return byEntity;
}

export async function syncOverheadBench({ orm, scale }: BenchContext): Promise<string> {
  const data = pagesOf(scale);
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const entity = url.pathname.slice(1) as EntityName;
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const all = data.get(entity) ?? [];
    const page = all.slice(offset, offset + PAGE);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (offset + PAGE < all.length) headers.link = `<http://127.0.0.1:${(server.address() as AddressInfo).port}/${entity}?offset=${offset + PAGE}>; rel="next"`;
    res.writeHead(200, headers).end(JSON.stringify(page));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let fetchMs = 0;
  const connector: Connector = {
    kind: 'bench-http',
    settings: z.object({ url: z.string() }),
    secrets: [],
    async open(ctx) {
      const client = new HttpClient({ baseUrl: String(ctx.settings.url), signal: ctx.signal });
      return {
        batches: (async function* () {
          for (const entity of entityNames) {
            const pages = client.pages<unknown[]>(`/${entity}`, (res) => linkNext(res));
            for (;;) {
              const started = performance.now();
              const next = await pages.next();
              fetchMs += performance.now() - started;
              if (next.done) break;
              yield { entity, records: next.value } as RecordBatch;
            }
          }
        })(),
        complete: () => entityNames,
      };
    },
  };
  const deps = {
    orm, box: new SecretBox(Buffer.alloc(32)), connectors: { 'bench-http': connector },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  await saveSource(deps, { name: 'bench-http', kind: 'bench-http', settings: { url: base } });

  const shares: string[] = [];
  const run = (label: string) =>
    measure(label, async () => {
      fetchMs = 0;
      const started = performance.now();
      const summary = (await syncSource(deps, 'bench-http', 'manual')) as RunSummary;
      const total = performance.now() - started;
      if (summary.status !== 'succeeded') throw new Error(`sync ended ${summary.status}`);
      shares.push(`${label}: ${(100 * (1 - fetchMs / total)).toFixed(0)}% of ${(total / 1000).toFixed(1)} s outside fetching (fetching ${(fetchMs / 1000).toFixed(1)} s)`);
      return { rows: Object.values(summary.counts).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0), summary };
    });
  // Baseline: just reading every page, nothing done with it.
  const fetchOnly = await measure('fetching every page only', async () => {
    const client = new HttpClient({ baseUrl: base });
    let rows = 0;
    for (const entity of entityNames) for await (const page of client.pages<unknown[]>(`/${entity}`, (res) => linkNext(res))) rows += page.length;
    return { rows };
  });
  const first = await run('first sync (empty database)');
  const again = await run('unchanged re-sync');
  server.close();
  const written = Object.values(again.detail!.summary.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);
  if (written !== 0) throw new Error(`unchanged re-sync wrote ${written} rows`);

  const steps: Measured[] = [fetchOnly, first, again];
  return markdownTable(`Sync overhead, ${scale} scale`, steps, fetchOnly, [
    `A local fake source serves the district as JSON pages of ${PAGE} with Link headers; the connector reads them with the shared HTTP client.`,
    ...shares,
    `Unchanged re-sync wrote ${written} rows.`,
    'Target (issue #6): ≤ 25% of run time outside fetching.',
  ]);
}
