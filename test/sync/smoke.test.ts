import { afterAll, beforeAll, expect, test } from 'vitest';
import { reconcile } from '../../src/sync/reconcile.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { defaults, smallDistrict } from '../support/roster.ts';

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db?.drop(); });

test('smoke', async () => {
  const s = await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
  console.log(JSON.stringify(s, null, 1));
  const s2 = await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'bulk', batches: smallDistrict() });
  console.log(JSON.stringify(s2.counts));
  expect(s.status).toBe('succeeded');
});
