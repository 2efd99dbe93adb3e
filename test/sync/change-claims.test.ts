import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, expect, test } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { claimChangeVersions, settledChangeVersion } from '../../src/sync/change-claims.ts';
import { readRecords } from '../../src/sync/read.ts';
import { ensureSource, reconcile } from '../../src/sync/reconcile.ts';
import { writeRecord } from '../../src/sync/write.ts';
import { useTestDatabase } from '../support/db.ts';
import { accessToken, gatewayApp } from '../support/gateway.ts';
import { defaults, smallDistrict, withRecords } from '../support/roster.ts';

/**
 * Change versions are taken before commit; a reader must not be told a version is settled while a
 * transaction holding an older one is still open (it would skip that transaction's rows for good).
 */

const db = useTestDatabase();
const settled = async () => Number((await db.query(settledChangeVersion()))[0]!.v);
const lastValue = async () => Number((await db.query(sql<{ v: string }>`select last_value::text as v from change_version_seq`))[0]!.v);
// pg_locks and pg_stat_activity are the whole server's; other test files write to other databases meanwhile.
const waitingClaims = async () => Number((await db.query(sql<{ n: string }>`select count(*)::text as n from pg_locks
  where locktype = 'advisory' and objsubid = 1 and (classid::bigint >> 16) = ${0x5247} and not granted
    and database = (select oid from pg_database where datname = current_database())`))[0]!.n);

beforeAll(async () => {
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
});

test('a version taken by an open transaction that claimed it is not settled until the transaction ends', async () => {
  expect(await settled()).toBe(await lastValue());
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let taken = 0;
  const tx = db.orm.em.fork().transactional(async (em) => {
    await claimChangeVersions(em);
    taken = Number((await sql<{ v: string }>`select nextval('change_version_seq')::text as v`.execute(em.getKysely())).rows[0]!.v);
    await held;
  });
  await expect.poll(() => taken).toBeGreaterThan(0);
  // Another writer commits a newer version meanwhile: still not settled past the open one.
  await db.query(sql`select nextval('change_version_seq')`);
  expect(await settled()).toBeLessThan(taken);

  const app = gatewayApp(db.orm, './data/test-change-claims');
  const token = await accessToken(app, await createClient(db.orm, { name: 'claims', scopes: [scopes.edfiRead] }));
  const res = await app.request('https://gw.example/changeQueries/v1/availableChangeVersions', { headers: { authorization: `Bearer ${token}` } });
  try {
    expect(((await res.json()) as { newestChangeVersion: number }).newestChangeVersion).toBeLessThan(taken);
  } finally {
    release();
    await tx;
  }
  expect(await settled()).toBe(await lastValue());
});

test('transactions that claim the same versions do not wait for each other', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let claimed!: () => void;
  const first = new Promise<void>((resolve) => (claimed = resolve));
  const holder = db.orm.em.fork().transactional(async (em) => {
    await claimChangeVersions(em);
    claimed();
    await held;
  });
  try {
    await first;
    // Same sequence value, same key: a second claim still goes through at once.
    await db.orm.em.fork().transactional(async (em) => {
      await claimChangeVersions(em);
      await sql`select nextval('change_version_seq')`.execute(em.getKysely());
    });
  } finally {
    release();
    await holder;
  }
});

test("a run's apply claims its versions before it takes any", async () => {
  // Hold the claim the run will make (its key is the sequence's value when the apply starts), so it waits there.
  const from = await lastValue();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const holder = db.orm.em.fork().transactional(async (em) => {
    await sql`select pg_advisory_xact_lock((${0x5247}::bigint << 48) | ${from}::bigint)`.execute(em.getKysely());
    await held;
  });
  const batches = withRecords(smallDistrict(), 'user', (users) => users.map((u) => ({ ...u, familyName: `${(u as { familyName: string }).familyName} II` })));
  const run = reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches });
  try {
    await expect.poll(waitingClaims, { timeout: 10_000 }).toBe(1);
    expect(await lastValue()).toBe(from);
  } finally {
    release();
    await holder;
  }
  expect((await run).status).toBe('succeeded');
  expect(await lastValue()).toBeGreaterThan(from);
  expect(await settled()).toBe(await lastValue());
});

test('a single write that waits for a row lock keeps the versions after its own unsettled until it lands', async () => {
  const [{ id }] = await db.query(sql<{ id: string }>`select sourced_id as id from "user" where status = 'active' order by sourced_id limit 1`) as [{ id: string }];
  const stored = (await readRecords(db.orm.em.fork(), 'user', [id])).get(id)!.record;
  const api = await ensureSource(db.orm.em.fork(), 'api-claims', 'api');
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const rowLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = db.orm.em.fork().transactional(async (em) => {
    await sql`select 1 from "user" where sourced_id = ${id} for update`.execute(em.getKysely());
    locked();
    await held;
  });
  await rowLocked;
  const write = writeRecord(db.orm.em.fork(), api, 'user', { ...stored, familyName: 'Waited' } as never);
  let settledMeanwhile: number;
  try {
    await expect.poll(async () => Number((await db.query(sql<{ n: string }>`select count(*)::text as n from pg_stat_activity
      where wait_event_type = 'Lock' and query like '%claim as materialized%' and datname = current_database()`))[0]!.n), { timeout: 10_000 }).toBe(1);
    // A writer that took a newer version commits while the first still waits.
    await db.query(sql`select nextval('change_version_seq')`);
    settledMeanwhile = await settled();
  } finally {
    release();
    await holder;
  }
  const written = await write;
  expect(written.outcome).toBe('updated');
  // A reader that synced up to what was settled then and next asks from the version after it sees this write.
  expect(settledMeanwhile).toBeLessThan(written.changeVersion);
  expect(await settled()).toBe(await lastValue());
});

test("a claim on another database of the same server does not hold this one's versions back", async () => {
  // pg_locks lists the whole server's locks; another database's sequence values mean nothing here.
  const url = new URL(db.orm.config.get('clientUrl')!);
  const other = new pg.Client({ connectionString: url.toString().replace(/\/[^/]*$/, '/postgres') });
  await other.connect();
  try {
    await other.query('begin');
    await other.query(`select pg_advisory_xact_lock_shared((${0x5247}::bigint << 48) | 1)`);
    await db.query(sql`select nextval('change_version_seq')`);
    expect(await settled()).toBe(await lastValue());
  } finally {
    await other.query('rollback');
    await other.end();
  }
});
