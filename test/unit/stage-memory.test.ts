import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, test } from 'vitest';
import { BloomFilter } from '../../src/sync/bloom.ts';
import { entitySpec } from '../../src/sync/entities.ts';
import type { IssueLog } from '../../src/sync/issues.ts';
import { prepareBatch, type StageContext } from '../../src/sync/stage.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test('ids a run keeps do not keep the text they were parsed from', () => {
  const ctx: StageContext = {
    runId: 1, sourceId: 1, tally: new Map(), seenIds: new BloomFilter(1000), maybeRepeated: new Map(),
    issues: {} as IssueLog, files: new Map(),
  };
  const spec = entitySpec('org');
  const before = () => { gc(); return process.memoryUsage().heapUsed; };
  const start = before();
  for (let i = 0; i < 40; i++) {
    // A 1 MB chunk of a file, one id cut out of it (V8 keeps such a substring as a view into the chunk).
    const chunk = `org-${String(i).padStart(4, '0')}-${'x'.repeat(20)},`.concat('y'.repeat(1 << 20));
    const id = chunk.slice(0, chunk.indexOf(','));
    ctx.seenIds.add(id, 'org'); // The filter has seen it: the id is kept as a suspected repeat.
    prepareBatch(ctx, spec, [{ sourcedId: id, name: 'x', type: 'school' }]);
  }
  expect(ctx.maybeRepeated.get('org')?.size).toBe(40);
  expect(before() - start).toBeLessThan(10 * (1 << 20));
});
