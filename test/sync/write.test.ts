import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { beforeAll, describe, expect, test } from 'vitest';
import { genericPlans } from '../../src/db/prepared.ts';
import { ensureSource, reconcile } from '../../src/sync/reconcile.ts';
import { WriteConflict, writeRecord, writeRecords } from '../../src/sync/write.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults } from '../support/roster.ts';

/**
 * Concurrent single-record writes on a door's pool (as the API doors make them) share statements,
 * and each request still gets its own answer: its outcome, its conflict, its error.
 */

const db = useTestDatabase();
let door: () => EntityManager;
let source: number;
let writeStatements = 0;

const person = (id: string, familyName: string, extra: Record<string, unknown> = {}) =>
  ({ sourcedId: id, enabledUser: true, givenName: 'Pat', familyName, roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1' }], ...extra }) as never;

beforeAll(async () => {
  await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: [{ entity: 'org', records: [{ sourcedId: 's1', name: 'School', type: 'school' }] }] });
  door = genericPlans(db.orm, 'write', {
    onPool: (pool) => {
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        if (/^with claim as materialized .* "?w0 as/s.test((args[0] as { text?: string }).text ?? '')) writeStatements++;
        return query(...args);
      };
    },
  }) as () => EntityManager;
  source = await ensureSource(door(), 'api-test', 'api');
});

const stored = async (id: string) =>
  (await db.query(sql<{ family_name: string; change_version: string }>`select family_name, change_version from "user" where sourced_id = ${id}`))[0];

describe('concurrent writes on a door', () => {
  test('share statements, each answered with its own outcome and change version', async () => {
    writeStatements = 0;
    const ids = Array.from({ length: 40 }, (_, i) => `p${i}`);
    const created = await Promise.all(ids.map((id) => writeRecord(door(), source, 'user', person(id, 'One'))));
    expect(created.map((w) => w.outcome)).toEqual(ids.map(() => 'created'));
    expect(new Set(created.map((w) => w.changeVersion)).size).toBe(ids.length);
    expect(writeStatements).toBeGreaterThan(0);
    expect(writeStatements).toBeLessThan(ids.length);
    for (const [i, id] of ids.entries()) expect(Number((await stored(id))!.change_version)).toBe(created[i]!.changeVersion);

    const again = await Promise.all(ids.map((id, i) => writeRecord(door(), source, 'user', person(id, i % 2 ? 'Two' : 'One'))));
    expect(again.map((w) => w.outcome)).toEqual(ids.map((_, i) => (i % 2 ? 'updated' : 'unchanged')));
    expect(again.filter((_, i) => i % 2 === 0).map((w) => w.changeVersion)).toEqual(created.filter((_, i) => i % 2 === 0).map((w) => w.changeVersion));
  });

  test('a write the database refuses fails its own request only', async () => {
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) =>
      writeRecord(door(), source, 'user', person(`q${i}`, 'Q', i === 5 ? { primaryOrgSourcedId: 'no-such-org' } : {}))));
    expect(results.map((r) => r.status)).toEqual(results.map((_, i) => (i === 5 ? 'rejected' : 'fulfilled')));
    expect(String((results[5] as PromiseRejectedResult).reason)).toMatch(/foreign key/);
    expect(await stored('q5')).toBeUndefined();
    expect((await stored('q4'))!.family_name).toBe('Q');
  });

  test('writes of one row at once all land, one after the other', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `Name ${i}`);
    const results = await Promise.all(names.map((name) => writeRecord(door(), source, 'user', person('same', name))));
    expect(results.filter((w) => w.outcome === 'created')).toHaveLength(1);
    expect(new Set(results.map((w) => w.changeVersion)).size).toBe(names.length);
    const last = results.reduce((a, b) => (b.changeVersion > a.changeVersion ? b : a));
    expect((await stored('same'))!.family_name).toBe(names[results.indexOf(last)]);
  });

  test('a row another transaction holds holds up its own write only', async () => {
    await writeRecord(door(), source, 'user', person('held', 'Before'));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // A long transaction (a run's apply, say) holding the row.
    const holder = db.orm.em.fork().transactional(async (tx) => {
      await sql`select 1 from "user" where sourced_id = 'held' for update`.execute(tx.getKysely());
      locked();
      await released;
    });
    await isLocked;
    try {
      let heldDone = false;
      const held = writeRecord(door(), source, 'user', person('held', 'After')).finally(() => (heldDone = true));
      const others = await Promise.all(Array.from({ length: 10 }, (_, i) => writeRecord(door(), source, 'user', person(`free${i}`, 'Free'))));
      expect(others.map((w) => w.outcome)).toEqual(others.map(() => 'created'));
      // Writes that arrive after it go on too.
      expect((await writeRecord(door(), source, 'user', person('later', 'Later'))).outcome).toBe('created');
      expect(heldDone).toBe(false);
      release();
      expect((await held).outcome).toBe('updated');
    } finally {
      release();
      await holder;
    }
    expect((await stored('held'))!.family_name).toBe('After');
  });

  test('a write merged into a row that changed meanwhile is a conflict, alone', async () => {
    const [base] = await writeRecords(door(), source, [{ entity: 'user', record: person('merge', 'Base') }]);
    expect(base!.outcome).toBe('created');
    const hash = (await db.query(sql<{ content_hash: string }>`select content_hash from "user" where sourced_id = 'merge'`))[0]!.content_hash;
    const [first, second, other] = await Promise.allSettled([
      writeRecord(door(), source, 'user', person('merge', 'First'), hash),
      writeRecord(door(), source, 'user', person('merge', 'Second'), hash),
      writeRecord(door(), source, 'user', person('merge-other', 'Other')),
    ]);
    expect([first.status, second.status].sort()).toEqual(['fulfilled', 'rejected']);
    expect([first, second].find((r) => r.status === 'rejected')!.reason).toBeInstanceOf(WriteConflict);
    expect(other.status).toBe('fulfilled');
  });
});
