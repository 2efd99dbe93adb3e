import { oneRoster } from '../connectors/oneroster/index.ts';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { SecretBox } from '../src/auth/secret-box.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { saveSource, syncSource, type SourceDeps } from '../src/sync/sources.ts';
import { memoryTokenStore } from '../src/sync/upstream-oauth.ts';
import { markdownTable, measure } from './measure.ts';
import type { BenchContext } from './reconcile.ts';
import { idle, rowsOf, startUpstream, writtenBy } from './upstream.ts';

/**
 * Issue #13: one Rostergate pulls a district from another through the OneRoster REST connector,
 * over real HTTP on this machine. Baseline: the upstream's own CSV export of the same data (every
 * file, to disk). Steps: the full pull into an empty gateway, an incremental run with nothing changed
 * upstream (it must write nothing), and for reference the reading and mapping alone. Pages of 10,000
 * are bulk reads, which the upstream renders without storing them in its render cache.
 */
export async function oneRosterPullBench(ctx: BenchContext): Promise<string> {
  const { orm, scale } = ctx;
  const up = await startUpstream(ctx);
  const { db: upstream, base, exported, bytes } = up;

  const client = await createClient(upstream, { name: 'downstream', scopes: [scopes.roster, scopes.rosterDemographics] });
  const deps: SourceDeps = {
    orm, box: new SecretBox(Buffer.alloc(32)), connectors: { oneroster: oneRoster },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  await saveSource(deps, {
    name: 'upstream', kind: 'oneroster',
    settings: { baseUrl: `${base}/ims/oneroster/rostering/v1p2`, clientId: client.clientId, clientSecret: client.secret, pageSize: 10_000 },
  });
  const run = (label: string, trigger: string) =>
    measure(label, async () => {
      const summary = (await syncSource(deps, 'upstream', trigger))!;
      if (summary.status !== 'succeeded') throw new Error(`${label} ended ${summary.status}: ${summary.error ?? summary.holdReason}`);
      return { rows: rowsOf(summary), summary };
    });
  const full = await run('full pull over the OneRoster API into an empty gateway', 'manual');
  await idle(upstream);
  const incremental = await run('incremental run, nothing changed upstream', 'schedule');
  const readOnly = await measure('reading and mapping only, again (nothing written)', async () => {
    const pull = (await oneRoster.open({
      source: { id: 0, name: 'read-only' }, settings: { baseUrl: `${base}/ims/oneroster/rostering/v1p2`, clientId: client.clientId, clientSecret: client.secret, pageSize: 10_000 },
      signal: new AbortController().signal, trigger: 'manual', logger: deps.logger, config: deps.config, orm, tokens: memoryTokenStore(),
    }))!;
    let n = 0;
    for await (const batch of pull.batches) n += batch.records.length;
    return { rows: n };
  });

  await up.stop();
  if (writtenBy(incremental.detail!.summary) !== 0) throw new Error(`the unchanged incremental run wrote ${writtenBy(incremental.detail!.summary)} rows`);
  return markdownTable(`OneRoster REST pull, ${scale} scale`, [exported, full, incremental, readOnly], exported, [
    `Upstream: a second Rostergate process (\`serve\`, its own database on the same PostgreSQL server) serving the generated district over HTTP on 127.0.0.1; pages of 10,000.`,
    `Baseline: the upstream's CSV export of the same data (${(bytes / 1e6).toFixed(0)} MB, every file).`,
    `Phases of the full pull (ms): ${JSON.stringify(full.detail!.summary.phases)} (stage includes reading the provider).`,
    `Target (issue #13): the full pull within 3× the export; the incremental run writes nothing (wrote ${writtenBy(incremental.detail!.summary)}).`,
  ]);
}
