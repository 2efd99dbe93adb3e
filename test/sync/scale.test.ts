import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { RecordBatch, UserRecord } from '../../src/sync/records.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const USERS = 100_000;
/** Each record carries its own 2 KB, so the run's records add up to ~190 MB. */
const PADDING = 2_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Heap still reachable after a full collection: what the run holds on to, not its garbage. */
const retained = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** 100k synthetic users, built lazily one batch at a time. */
function* users(): Generator<RecordBatch> {
  yield { entity: 'org', records: [{ sourcedId: 'school', name: 'School', type: 'school' }] };
  for (let start = 0; start < USERS; start += 5_000) {
    const records: UserRecord[] = [];
    for (let n = start; n < start + 5_000; n++) {
      records.push({
        sourcedId: `u${n}`, enabledUser: true, givenName: `Given ${n}`, familyName: 'Family', username: `user${n}`,
        metadata: { note: String(n).padEnd(PADDING, '.') }, roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 'school' }],
      });
    }
    yield { entity: 'user', records };
  }
}

test('100k users stream through reconcile in bounded memory', { timeout: 180_000 }, async () => {
  const base = retained();
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, retained() - base)), 200);
  try {
    const summary = await reconcile(db.orm, { source: 'synthetic', mode: 'bulk', batches: users(), holdShare: 0.3, batchSize: 2_000 });
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.user).toMatchObject({ created: USERS, rejected: 0 });
  } finally {
    clearInterval(sampler);
  }
  // A run that kept its records (or their staged JSON) would retain several times this.
  expect((USERS * PADDING) / 2 ** 20).toBeGreaterThan(180);
  expect(peak).toBeGreaterThan(0);
  expect(peak / 2 ** 20).toBeLessThan(60);
});
