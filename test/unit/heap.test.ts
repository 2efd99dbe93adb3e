import { afterEach, expect, test } from 'vitest';
import { LEAN_HEAP_GROWING_PERCENT, leanHeapHolders, leanHeapScope } from '../../src/heap.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { importPackage } from '../../standards/oneroster/csv/import.ts';
import { fixture } from '../support/csv.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults, smallDistrict } from '../support/roster.ts';

const db = useTestDatabase();
const lean = `--heap-growing-percent=${LEAN_HEAP_GROWING_PERCENT}`;

const options = process.env.NODE_OPTIONS;
afterEach(() => {
  if (options === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = options;
});

test('overlapping runs set the lean heap once and lift it when the last one ends', () => {
  const calls: string[] = [];
  const scope = leanHeapScope((f) => calls.push(f), false);
  const first = scope.take();
  const second = scope.take();
  expect(calls).toEqual([lean]);
  first();
  first();
  expect(calls).toEqual([lean]);
  expect(scope.held()).toBe(1);
  second();
  expect(calls).toEqual([lean, '--heap-growing-percent=0']);
  scope.take()();
  expect(calls).toEqual([lean, '--heap-growing-percent=0', lean, '--heap-growing-percent=0']);
});

test('a heap growth the operator chose (node flag or NODE_OPTIONS) is never touched', () => {
  process.env.NODE_OPTIONS = '--enable-source-maps --heap-growing-percent=80';
  const calls: string[] = [];
  const scope = leanHeapScope((f) => calls.push(f));
  scope.take()();
  expect(calls).toEqual([]);
});

test('a reconcile run holds the lean heap while it reads its batches and gives it back, also when it fails', async () => {
  const held: number[] = [];
  async function* batches() {
    for (const batch of smallDistrict()) {
      held.push(leanHeapHolders());
      yield batch;
    }
  }
  const run = await reconcile(db.orm, { ...defaults, source: 'heap', mode: 'bulk', batches: batches() });
  expect(run.status).toBe('succeeded');
  expect(new Set(held)).toEqual(new Set([1]));
  expect(leanHeapHolders()).toBe(0);

  // A stage connection that refuses every COPY: the run fails (and throws).
  const refusing = { copy: () => Promise.reject(new Error('connection lost')) } as never;
  await expect(reconcile(db.orm, { ...defaults, source: 'heap', mode: 'bulk', batches: smallDistrict(), lock: refusing })).rejects.toThrow('connection lost');
  expect(leanHeapHolders()).toBe(0);
});

test('a CSV import holds it from before its fingerprint pass until its package is closed, whatever the package', async () => {
  const limits = { maxEntries: 64, maxFileBytes: 10_000_000, maxTotalBytes: 50_000_000 };
  for (const path of [fixture('bulk'), '/nonexistent/package.zip']) {
    await importPackage(db.orm, path, { source: 'heap-csv', holdShare: 0.3, batchSize: 1000, limits });
    expect(leanHeapHolders(), path).toBe(0);
  }
});
