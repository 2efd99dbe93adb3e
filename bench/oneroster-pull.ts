import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { oneRoster } from '../connectors/oneroster/index.ts';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { SecretBox } from '../src/auth/secret-box.ts';
import { loadConfig } from '../src/config/config.ts';
import type { Orm } from '../src/db/orm.ts';
import { createLogger } from '../src/log.ts';
import { reconcile, type RunSummary } from '../src/sync/reconcile.ts';
import { saveSource, syncSource, type SourceDeps } from '../src/sync/sources.ts';
import { memoryTokenStore } from '../src/sync/upstream-oauth.ts';
import { exportToDirectory } from '../standards/oneroster/csv/export.ts';
import { generateDistrict } from './generate.ts';
import { markdownTable, measure } from './measure.ts';
import type { BenchContext } from './reconcile.ts';

/** Waits until the upstream's database has no statement running (the API fills its render cache after answering). */
async function idle(db: Orm) {
  for (let i = 0; i < 600; i++) {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and state = 'active' and pid <> pg_backend_pid()`.execute(db.em.fork().getKysely());
    if (rows[0]!.n === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

async function ready(url: string) {
  for (let i = 0; i < 600; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

/**
 * Issue #13: one Rostergate pulls a district from another through the OneRoster REST connector,
 * over real HTTP on this machine. Baseline: the upstream's own CSV export of the same data (every
 * file, to disk). Steps: the full pull into an empty gateway (the upstream's render cache cold, as at
 * a first sync), an incremental run with nothing changed upstream (it must write nothing), and for
 * reference the reading alone once the upstream's cache is warm.
 */
export async function oneRosterPullBench({ orm, scale, workDir, newDatabase }: BenchContext): Promise<string> {
  const upstream = await newDatabase('upstream');
  const upstreamUrl = upstream.config.get('clientUrl')!;
  const seeded = await reconcile(upstream, { source: 'sis', mode: 'bulk', batches: generateDistrict({ scale }), holdShare: 1, batchSize: 5000 });
  if (seeded.status !== 'succeeded') throw new Error(`seeding the upstream ended ${seeded.status}`);
  // The upstream is another gateway process, as it would be: its CPU work is not this process's.
  const port = await freePort();
  const child = spawn(process.execPath, [fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)), 'serve'], {
    env: {
      ...process.env, DATABASE_URL: upstreamUrl, PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN: 'a'.repeat(40), TOKEN_SIGNING_KEY: 'u'.repeat(40),
      SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'), RATE_LIMIT_PER_SECOND: '0', LOG_LEVEL: 'warn', DATA_DIR: join(workDir, 'upstream'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await ready(`${base}/readyz`);

  const dir = join(workDir, 'export');
  mkdirSync(dir, { recursive: true });
  const exported = await measure('upstream CSV export (baseline)', async () => {
    await exportToDirectory(upstream, dir);
    return { rows: Object.values(seeded.counts).reduce((n, c) => n + c.created, 0) };
  });
  const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

  const client = await createClient(upstream, { name: 'downstream', scopes: [scopes.roster, scopes.rosterDemographics] });
  const deps: SourceDeps = {
    orm, box: new SecretBox(Buffer.alloc(32)), connectors: { oneroster: oneRoster },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  await saveSource(deps, {
    name: 'upstream', kind: 'oneroster',
    settings: { baseUrl: `${base}/ims/oneroster/rostering/v1p2`, clientId: client.clientId, clientSecret: client.secret, pageSize: 10_000 },
  });
  const rows = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0);
  const written = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);
  const run = (label: string, trigger: string) =>
    measure(label, async () => {
      const summary = (await syncSource(deps, 'upstream', trigger))!;
      if (summary.status !== 'succeeded') throw new Error(`${label} ended ${summary.status}: ${summary.error ?? summary.holdReason}`);
      return { rows: rows(summary), summary };
    });
  const full = await run('full pull over the OneRoster API into an empty gateway', 'manual');
  await idle(upstream);
  const incremental = await run('incremental run, nothing changed upstream', 'schedule');
  const readOnly = await measure('reading and mapping only, upstream cache warm (nothing written)', async () => {
    const pull = (await oneRoster.open({
      source: { id: 0, name: 'read-only' }, settings: { baseUrl: `${base}/ims/oneroster/rostering/v1p2`, clientId: client.clientId, clientSecret: client.secret, pageSize: 10_000 },
      signal: new AbortController().signal, trigger: 'manual', logger: deps.logger, config: deps.config, orm, tokens: memoryTokenStore(),
    }))!;
    let n = 0;
    for await (const batch of pull.batches) n += batch.records.length;
    return { rows: n };
  });

  child.kill('SIGTERM');
  await once(child, 'exit');
  await upstream.close();
  if (written(incremental.detail!.summary) !== 0) throw new Error(`the unchanged incremental run wrote ${written(incremental.detail!.summary)} rows`);
  return markdownTable(`OneRoster REST pull, ${scale} scale`, [exported, full, incremental, readOnly], exported, [
    `Upstream: a second Rostergate process (\`serve\`, its own database on the same PostgreSQL server) serving the generated district over HTTP on 127.0.0.1; pages of 10,000.`,
    `Baseline: the upstream's CSV export of the same data (${(bytes / 1e6).toFixed(0)} MB, every file).`,
    `Phases of the full pull (ms): ${JSON.stringify(full.detail!.summary.phases)} (stage includes reading the provider).`,
    `Target (issue #13): the full pull within 3× the export; the incremental run writes nothing (wrote ${written(incremental.detail!.summary)}).`,
  ]);
}
