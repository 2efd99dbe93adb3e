import { sql } from 'kysely';
import { edfi } from '../connectors/edfi/index.ts';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { markdownTable } from './measure.ts';
import type { BenchContext } from './reconcile.ts';
import { measurePulls, startUpstream, writtenBy } from './upstream.ts';

/**
 * Issue #13: one Rostergate pulls a district from another through the Ed-Fi source connector (the
 * upstream's Ed-Fi door, over real HTTP on this machine): the full pull into an empty gateway, then a
 * change-query run with nothing changed upstream (it must write nothing). Baseline: the upstream's
 * own CSV export of the same data. The issue sets no Ed-Fi target; this tells how far it is from one.
 */
export async function edfiPullBench(ctx: BenchContext): Promise<string> {
  const up = await startUpstream(ctx);
  const client = await createClient(up.db, { name: 'downstream', scopes: [scopes.edfiRead] });
  const settings = { baseUrl: up.base, clientId: client.clientId, clientSecret: client.secret, pageSize: 500 };
  const { full, again, readOnly } = await measurePulls(ctx, up, edfi, settings, {
    full: 'full pull over the Ed-Fi API into an empty gateway', again: 'change-query run, nothing changed upstream', read: 'reading and mapping only (nothing written)',
  });
  await up.stop();
  const { rows: told } = await sql<{ entity: string; code: string; n: number }>`select entity, code, count(*)::int as n from sync_issue
    where run_id = ${full.detail!.summary.runId} group by 1, 2 order by 1, 2`.execute(ctx.orm.em.fork().getKysely());
  const counts = Object.fromEntries(Object.entries(full.detail!.summary.counts).filter(([, c]) => c.created).map(([e, c]) => [e, c.created]));
  return markdownTable(`Ed-Fi pull, ${ctx.scale} scale`, [up.exported, full, again, readOnly], up.exported, [
    `Upstream: a second Rostergate process serving the generated district through its Ed-Fi door over HTTP on 127.0.0.1; pages of 500 (Ed-Fi's maximum), cursor paging.`,
    `Baseline: the upstream's CSV export of the same data (${(up.bytes / 1e6).toFixed(0)} MB, every file). Rows: the canonical rows the pull wrote (users with their roles; no descriptors).`,
    `Rows created by entity: ${JSON.stringify(counts)}; issues told: ${told.length ? told.map((t) => `${t.entity}/${t.code} ${t.n}`).join(', ') : 'none'}.`,
    `Phases of the full pull (ms): ${JSON.stringify(full.detail!.summary.phases)} (stage includes reading the API).`,
    `No target in issue #13 for Ed-Fi; the change-query run must write nothing (wrote ${writtenBy(again.detail!.summary)}).`,
  ]);
}
