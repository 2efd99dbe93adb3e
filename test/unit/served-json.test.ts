import { expect, test } from 'vitest';
import { ServedJson } from '../../src/http/served-json.ts';

test('served JSON stays within its bytes, the least recently used going first', () => {
  const memory = new ServedJson(10);
  const bytes = (n: number) => Buffer.alloc(n, 'x');
  memory.set('a', bytes(4));
  memory.set('b', bytes(4));
  expect(memory.get('a')).toBeDefined();
  memory.set('c', bytes(4));
  expect([memory.get('a'), memory.get('b'), memory.get('c')].map((b) => b?.length)).toEqual([4, undefined, 4]);
  expect(memory.bytes).toBe(8);
  memory.set('a', bytes(2));
  expect(memory.bytes).toBe(6);
  memory.set('huge', bytes(11));
  expect(memory.get('huge')).toBeUndefined();
  expect(new ServedJson(0).bytes).toBe(0);
});
