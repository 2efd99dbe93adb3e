import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { SecretBox } from '../src/auth/secret-box.ts';
import { loadConfig } from '../src/config/config.ts';
import type { Orm } from '../src/db/orm.ts';
import { createLogger } from '../src/log.ts';
import type { Connector } from '../src/sync/connector.ts';
import { reconcile, type RunSummary } from '../src/sync/reconcile.ts';
import { saveSource, syncSource, type SourceDeps } from '../src/sync/sources.ts';
import { memoryTokenStore } from '../src/sync/upstream-oauth.ts';
import { exportToDirectory } from '../standards/oneroster/csv/export.ts';
import { generateDistrict } from './generate.ts';
import { measure, type Measured } from './measure.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * The upstream of the pull benchmarks (issue #13): a second Rostergate process (`serve`, its own
 * database on the same PostgreSQL server) serving a generated district over HTTP on 127.0.0.1, and
 * the baseline the pulls are measured against: its own CSV export of the same data.
 */

/** Waits until the upstream's database has no statement running (the API fills its render cache after answering). */
export async function idle(db: Orm) {
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

export interface Upstream {
  db: Orm;
  base: string;
  seeded: RunSummary;
  exported: Measured;
  /** Bytes of the exported CSV files. */
  bytes: number;
  stop(): Promise<void>;
}

export async function startUpstream({ scale, workDir, newDatabase }: BenchContext): Promise<Upstream> {
  const db = await newDatabase('upstream');
  const seeded = await reconcile(db, { source: 'sis', mode: 'bulk', batches: generateDistrict({ scale }), holdShare: 1, batchSize: 5000 });
  if (seeded.status !== 'succeeded') throw new Error(`seeding the upstream ended ${seeded.status}`);
  // The upstream is another gateway process, as it would be: its CPU work is not this process's.
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)), 'serve'], {
    env: {
      ...process.env, DATABASE_URL: db.config.get('clientUrl')!, PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN: 'a'.repeat(40), TOKEN_SIGNING_KEY: 'u'.repeat(40),
      SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'), RATE_LIMIT_PER_SECOND: '0', LOG_LEVEL: 'warn', DATA_DIR: join(workDir, 'upstream'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await ready(`${base}/readyz`);
  const dir = join(workDir, 'export');
  mkdirSync(dir, { recursive: true });
  const exported = await measure('upstream CSV export (baseline)', async () => {
    await exportToDirectory(db, dir);
    return { rows: Object.values(seeded.counts).reduce((n, c) => n + c.created, 0) };
  });
  const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  return {
    db, base, seeded, exported, bytes,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
      await db.close();
    },
  };
}

/** Rows a run read (written or not), and rows it wrote. */
export const rowsOf = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0);
export const writtenBy = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);

/**
 * The measured steps of a pull benchmark through `connector` with `settings`: the full pull into this
 * gateway (an empty one), a run with nothing changed upstream (the benchmark fails if it writes
 * anything), and the reading and mapping alone (nothing written).
 */
export async function measurePulls(ctx: BenchContext, up: Upstream, connector: Connector, settings: Record<string, unknown>,
  labels: { full: string; again: string; read: string }) {
  const deps: SourceDeps = {
    orm: ctx.orm, box: new SecretBox(Buffer.alloc(32)), connectors: { [connector.kind]: connector },
    config: loadConfig({ DATA_DIR: './data/bench' }), logger: createLogger('silent'),
  };
  await saveSource(deps, { name: 'upstream', kind: connector.kind, settings });
  const run = (label: string, trigger: string) =>
    measure(label, async () => {
      const summary = (await syncSource(deps, 'upstream', trigger))!;
      if (summary.status !== 'succeeded') throw new Error(`${label} ended ${summary.status}: ${summary.error ?? summary.holdReason}`);
      return { rows: rowsOf(summary), summary };
    });
  const full = await run(labels.full, 'manual');
  await idle(up.db);
  const again = await run(labels.again, 'schedule');
  const readOnly = await measure(labels.read, async () => {
    const pull = (await connector.open({
      source: { id: 0, name: 'read-only' }, settings, signal: new AbortController().signal, trigger: 'manual',
      logger: deps.logger, config: deps.config, orm: ctx.orm, tokens: memoryTokenStore(),
    }))!;
    let n = 0;
    for await (const batch of pull.batches) n += batch.records.length;
    return { rows: n };
  });
  const wrote = writtenBy(again.detail!.summary);
  if (wrote !== 0) throw new Error(`${labels.again} wrote ${wrote} rows`);
  return { full, again, readOnly };
}
