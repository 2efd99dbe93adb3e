import { sql } from 'kysely';
import { edfi } from '../connectors/edfi/index.ts';
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
 * Issue #13: one Rostergate pulls a district from another through the Ed-Fi source connector (the
 * upstream's Ed-Fi door, over real HTTP on this machine): the full pull into an empty gateway, then a
 * change-query run with nothing changed upstream (it must write nothing). Baseline: the upstream's
 * own CSV export of the same data. The issue sets no Ed-Fi target; this tells how far it is from one.
 */
export async function edfiPullBench(ctx: BenchContext): Promise<string> {
  const { orm, scale } = ctx;
  const up = await startUpstream(ctx);
  const client = await createClient(up.db, { name: 'downstream', scopes: [scopes.edfiRead] });
  const deps: SourceDeps = {
    orm, box: new SecretBox(Buffer.alloc(32)), connectors: { edfi },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  await saveSource(deps, { name: 'upstream', kind: 'edfi', settings: { baseUrl: up.base, clientId: client.clientId, clientSecret: client.secret, pageSize: 500 } });
  const run = (label: string, trigger: string) =>
    measure(label, async () => {
      const summary = (await syncSource(deps, 'upstream', trigger))!;
      if (summary.status !== 'succeeded') throw new Error(`${label} ended ${summary.status}: ${summary.error ?? summary.holdReason}`);
      return { rows: rowsOf(summary), summary };
    });
  const full = await run('full pull over the Ed-Fi API into an empty gateway', 'manual');
  const { rows: told } = await sql<{ entity: string; code: string; n: number }>`select entity, code, count(*)::int as n from sync_issue
    where run_id = ${full.detail!.summary.runId} group by 1, 2 order by 1, 2`.execute(orm.em.fork().getKysely());
  const counts = Object.fromEntries(Object.entries(full.detail!.summary.counts).filter(([, c]) => c.created).map(([e, c]) => [e, c.created]));
  await idle(up.db);
  const changes = await run('change-query run, nothing changed upstream', 'schedule');
  const readOnly = await measure('reading and mapping only (nothing written)', async () => {
    const pull = (await edfi.open({
      source: { id: 0, name: 'read-only' }, settings: { baseUrl: up.base, clientId: client.clientId, clientSecret: client.secret, pageSize: 500 },
      signal: new AbortController().signal, trigger: 'manual', logger: deps.logger, config: deps.config, orm, tokens: memoryTokenStore(),
    }))!;
    let n = 0;
    for await (const batch of pull.batches) n += batch.records.length;
    return { rows: n };
  });
  await up.stop();
  if (writtenBy(changes.detail!.summary) !== 0) throw new Error(`the unchanged change-query run wrote ${writtenBy(changes.detail!.summary)} rows`);
  return markdownTable(`Ed-Fi pull, ${scale} scale`, [up.exported, full, changes, readOnly], up.exported, [
    `Upstream: a second Rostergate process serving the generated district through its Ed-Fi door over HTTP on 127.0.0.1; pages of 500 (Ed-Fi's maximum), cursor paging.`,
    `Baseline: the upstream's CSV export of the same data (${(up.bytes / 1e6).toFixed(0)} MB, every file). Rows: the canonical rows the pull wrote (users with their roles; no descriptors).`,
    `Rows created by entity: ${JSON.stringify(counts)}; issues told: ${told.length ? told.map((t) => `${t.entity}/${t.code} ${t.n}`).join(', ') : 'none'}.`,
    `Phases of the full pull (ms): ${JSON.stringify(full.detail!.summary.phases)} (stage includes reading the API).`,
    `No target in issue #13 for Ed-Fi; the change-query run must write nothing (wrote ${writtenBy(changes.detail!.summary)}).`,
  ]);
}
