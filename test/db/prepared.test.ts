import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { genericPlans, runShared } from '../../src/db/prepared.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
const pools: pg.Pool[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db?.drop();
});

const door = () => genericPlans(db.orm, 'read', { onPool: (p) => pools.push(p) });
const slowVersion = sql<{ v: string }>`select pg_sleep(0.3)::text as slept, last_value::text as v from change_version_seq`;

test('callers asking at once share one read of a shared statement', async () => {
  const em = door()();
  let sent = 0;
  pools.at(-1)!.on('acquire', () => sent++);
  const [a, b] = [runShared(em, sql<{ v: string }>`select last_value::text as v from change_version_seq`, 'read'), runShared(em, sql<{ v: string }>`select last_value::text as v from change_version_seq`, 'read')];
  expect(await a).toBe(await b);
  expect(sent).toBeLessThanOrEqual(1);
});

test('a caller that asks while a read is under way gets a later read, never an answer from before it asked', async () => {
  const em = door()();
  const first = runShared(em, slowVersion, 'read');
  await new Promise((r) => setTimeout(r, 100));
  // A write commits while the first read is under way; a request after it must see it.
  const { rows: [bumped] } = await sql<{ v: string }>`select nextval('change_version_seq')::text as v`.execute(db.orm.em.fork().getKysely());
  const second = runShared(em, slowVersion, 'read');
  expect(second).not.toBe(first);
  const [a, b] = [(await first)[0]!.v, (await second)[0]!.v];
  expect(BigInt(a)).toBeLessThan(BigInt(bumped!.v));
  expect(b).toBe(bumped!.v);
});

test('generic-plan sessions keep generic plans for prepared statements', async () => {
  const em = door()();
  const rows = await runShared(em, sql<{ mode: string }>`select current_setting('plan_cache_mode') as mode`, 'read');
  expect(rows[0]!.mode).toBe('force_generic_plan');
});

test('a shared read that fails fails its callers, and the next read is tried afresh', async () => {
  const em = door()();
  const failing = sql<{ v: number }>`select 1 / (select count(*) from pg_class where relname = 'no such table')::int as v`;
  const [a, b] = [runShared(em, failing, 'read'), runShared(em, failing, 'read')];
  await expect(a).rejects.toThrow(/division by zero/);
  await expect(b).rejects.toThrow(/division by zero/);
  await expect(runShared(em, failing, 'read')).rejects.toThrow(/division by zero/);
});
