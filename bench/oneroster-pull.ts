import { oneRoster } from '../connectors/oneroster/index.ts';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { markdownTable } from './measure.ts';
import type { BenchContext } from './reconcile.ts';
import { measurePulls, startUpstream, writtenBy } from './upstream.ts';

/**
 * Issue #13: one Rostergate pulls a district from another through the OneRoster REST connector,
 * over real HTTP on this machine. Baseline: the upstream's own CSV export of the same data (every
 * file, to disk). Steps: the full pull into an empty gateway, an incremental run with nothing changed
 * upstream (it must write nothing), and for reference the reading and mapping alone. Pages of 10,000
 * are bulk reads, which the upstream renders without storing them in its render cache.
 */
export async function oneRosterPullBench(ctx: BenchContext): Promise<string> {
  const up = await startUpstream(ctx);
  const client = await createClient(up.db, { name: 'downstream', scopes: [scopes.roster, scopes.rosterDemographics] });
  const settings = { baseUrl: `${up.base}/ims/oneroster/rostering/v1p2`, clientId: client.clientId, clientSecret: client.secret, pageSize: 10_000 };
  const { full, again, readOnly } = await measurePulls(ctx, up, oneRoster, settings, {
    full: 'full pull over the OneRoster API into an empty gateway', again: 'incremental run, nothing changed upstream', read: 'reading and mapping only, again (nothing written)',
  });
  await up.stop();
  return markdownTable(`OneRoster REST pull, ${ctx.scale} scale`, [up.exported, full, again, readOnly], up.exported, [
    `Upstream: a second Rostergate process (\`serve\`, its own database on the same PostgreSQL server) serving the generated district over HTTP on 127.0.0.1; pages of 10,000.`,
    `Baseline: the upstream's CSV export of the same data (${(up.bytes / 1e6).toFixed(0)} MB, every file).`,
    `Phases of the full pull (ms): ${JSON.stringify(full.detail!.summary.phases)} (stage includes reading the provider).`,
    `Target (issue #13): the full pull within 3× the export; the incremental run writes nothing (wrote ${writtenBy(again.detail!.summary)}).`,
  ]);
}
