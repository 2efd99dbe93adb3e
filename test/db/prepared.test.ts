import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { genericPlans, runLookup, runShared } from '../../src/db/prepared.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
const pools: pg.Pool[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  await sql`create table lookup_probe (k text primary key, n bigint not null, d date)`.execute(db.orm.em.fork().getKysely());
  await sql`insert into lookup_probe values ('a', 1, '2024-08-19'), ('b', 2, null), ('c"\\,{x}', 3, '2025-01-01'), ('d', 3, null)`.execute(db.orm.em.fork().getKysely());
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

/** Lookups asked at once: the first of a shape goes alone, the others wait for it and go together. */
async function together<T>(lookups: (() => Promise<T>)[]) {
  let sent = 0;
  pools.at(-1)!.on('acquire', () => sent++);
  const results = await Promise.all(lookups.map((l) => l().then((v) => ({ ok: true as const, v }), (e: Error) => ({ ok: false as const, e }))));
  return { results, sent };
}

test('lookups of one shape asked at once share a statement, each answered with its own rows', async () => {
  const em = door()();
  const byN = (n: number) => () => runLookup(em, sql<{ k: string }>`select k from lookup_probe where n = ${n}::bigint`);
  const byKey = (k: string) => () => runLookup(em, sql<{ k: string; n: string; d: string | null }>`select k, n::text as n, d::text as d from lookup_probe where k = ${k}`);
  // Two shapes, each first sent alone, then the rest of each together: four statements for nine lookups.
  const { results, sent } = await together([byN(1), byN(3), byN(9), byN(2), byKey('b'), byKey('c"\\,{x}'), byKey('nope'), byKey('a'), byN(3)]);
  const answers = results.map((r) => (r.ok ? r.v : []));
  expect(answers.map((rows) => rows.map((r) => r.k).sort())).toEqual([['a'], ['c"\\,{x}', 'd'], [], ['b'], ['b'], ['c"\\,{x}'], [], ['a'], ['c"\\,{x}', 'd']]);
  expect(answers[4]).toEqual([{ k: 'b', n: '2', d: null }]);
  expect(answers[7]).toEqual([{ k: 'a', n: '1', d: '2024-08-19' }]);
  expect(sent).toBe(4);
});

test('lookups with arrays and nulls among their values are answered as alone', async () => {
  const em = door()();
  const some = (keys: (string | null)[], d: string | null) => () =>
    runLookup(em, sql<{ k: string }>`select k from lookup_probe where k = any(${keys}::text[]) and (${d}::date is null or d = ${d}::date) order by k`);
  const { results, sent } = await together([some(['a', 'b'], null), some(['c"\\,{x}', null, 'd'], '2025-01-01'), some([], null), some(['a', 'b', 'd'], '2024-08-19')]);
  expect(results.map((r) => (r.ok ? r.v.map((x) => x.k) : r.e.message))).toEqual([['a', 'b'], ['c"\\,{x}'], [], ['a']]);
  expect(sent).toBe(2);
});

test('a $n inside a quoted literal or identifier of a lookup stays text', async () => {
  const em = door()();
  const tagged = (k: string) => () =>
    runLookup(em, sql<{ k: string; tag: string }>`select k, 'costs $1 or ''$2''' as "$1 tag" from lookup_probe where k = ${k}`);
  const { results, sent } = await together([tagged('a'), tagged('b'), tagged('d')]);
  expect(results.map((r) => (r.ok ? r.v : r.e.message))).toEqual(['a', 'b', 'd'].map((k) => [{ k, '$1 tag': "costs $1 or '$2'" }]));
  expect(sent).toBe(2);
});

test('a lookup whose value its statement refuses fails alone; the others sent with it are answered', async () => {
  const em = door()();
  const byN = (n: string) => () => runLookup(em, sql<{ k: string }>`select k from lookup_probe where n = ${n}::bigint`);
  const { results } = await together([byN('1'), byN('not a number'), byN('2')]);
  expect(results.map((r) => (r.ok ? r.v.map((x) => x.k) : r.e.message))).toEqual([['a'], expect.stringMatching(/invalid input syntax for type bigint/), ['b']]);
});

test('inside a transaction a lookup runs on the transaction', async () => {
  await db.orm.em.fork().transactional(async (tx) => {
    await sql`insert into lookup_probe values ('t', 7, null)`.execute(tx.getKysely());
    expect(await runLookup(tx, sql<{ k: string }>`select k from lookup_probe where n = ${7}::bigint`)).toEqual([{ k: 't' }]);
    throw new Error('roll back');
  }).catch(() => undefined);
  expect(await runLookup(door()(), sql<{ k: string }>`select k from lookup_probe where n = ${7}::bigint`)).toEqual([]);
});
