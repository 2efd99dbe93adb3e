import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { SecretBox } from '../../src/auth/secret-box.ts';
import type { Connector } from '../../src/sync/connector.ts';
import type { HttpClientOptions } from '../../src/sync/http.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import type { SourceDeps } from '../../src/sync/sources.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Orm } from '../../src/db/orm.ts';
import { scanRecords } from '../../src/sync/read.ts';
import type { EntityName } from '../../src/sync/records.ts';
import { createLogger } from '../../src/log.ts';
import { BASE_PATH } from '../../standards/oneroster/rest/operations.ts';
import { useTestDatabase } from './db.ts';
import { accessToken, gatewayApp } from './gateway.ts';

/** What connector tests share: what a run wrote, which rows are active, the OneRoster API as a vendor sees it. */

type Db = ReturnType<typeof useTestDatabase>;

/**
 * A connector test file's harness: an msw server (unhandled requests are errors), a fresh database
 * per test, the connector with its waits recorded instead of slept, and the sources' dependencies.
 */
export function useConnectorHarness(make: (http: Partial<HttpClientOptions>) => Connector, dataDir: string) {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  const db = useTestDatabase({ fresh: true });
  const key = randomBytes(32);
  /** Waits the HTTP client would have slept. */
  const waits: number[] = [];
  beforeEach(() => void (waits.length = 0));
  const connector = make({ sleep: async (ms) => void waits.push(ms) });
  const deps = (): SourceDeps => ({
    orm: db.orm, box: new SecretBox(key), connectors: { [connector.kind]: connector },
    config: loadConfig({ DATA_DIR: dataDir, SYNC_HOLD_SHARE: '0.9' }), logger: createLogger('silent'),
  });
  /** The source's secrets as sealed in the database. */
  const sealedSecrets = async (name: string) =>
    new SecretBox(key).open<Record<string, string>>((await db.query(sql<{ secrets: string }>`select secrets from source where name = ${name}`))[0]!.secrets);
  return { server, db, waits, deps, sealedSecrets };
}

/** Rows a run created, changed or tombstoned. */
export const written = (counts: Record<string, { created: number; updated: number; tombstoned: number }>) =>
  Object.values(counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);

/** sourcedIds of a table's active rows, in order. */
export const activeIds = async (db: Db, table: string) =>
  (await db.query(sql<{ id: string }>`select sourced_id as id from ${sql.table(table)} where status = 'active' order by sourced_id`)).map((r) => r.id);

/** Runs `work` while a scheduler (as `npm start` runs it) schedules the sources; stops it after. */
export async function withScheduler(deps: SourceDeps, work: () => Promise<void>) {
  const scheduler = new Scheduler(deps);
  await scheduler.start(3600);
  try {
    await work();
  } finally {
    await scheduler.stop();
  }
}

/** Waits until `n` scheduled runs have finished. */
export async function scheduledRuns(db: Db, n: number) {
  for (let i = 0; i < 150; i++) {
    const [row] = await db.query(sql<{ n: number }>`select count(*)::int as n from sync_run where finished_at is not null and trigger = 'schedule'`);
    if (row!.n >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${n} scheduled runs did not finish`);
}

/** GET on the OneRoster rostering API with a vendor's roster token. */
export async function oneRosterReader(orm: Orm) {
  const app = gatewayApp(orm, './data/test-connectors');
  const token = await accessToken(app, await createClient(orm, { name: 'vendor', scopes: [scopes.roster] }));
  return async (path: string) => (await app.request(`https://gw.example${BASE_PATH}${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<Record<string, any>>;
}

/**
 * Every row of an entity by sourcedId, tombstones too, for comparing two gateways' stores: without
 * the record fields in `omit`; with `tombstonesById`, a tombstone is its id and status alone.
 */
export async function storedRows(orm: Orm, entity: EntityName, options: { omit: readonly string[]; tombstonesById?: boolean }) {
  const rows = new Map<string, unknown>();
  for await (const page of scanRecords(orm.em.fork(), entity, { since: new Date(0) })) {
    for (const { record, status } of page) {
      const kept = Object.fromEntries(Object.entries(record).filter(([k]) => !options.omit.includes(k)));
      rows.set(record.sourcedId as string, status !== 'active' && options.tombstonesById ? { sourcedId: record.sourcedId, status } : { ...kept, status });
    }
  }
  return rows;
}
