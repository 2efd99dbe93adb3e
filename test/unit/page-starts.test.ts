import { afterEach, expect, test, vi } from 'vitest';
import { PageStarts, REUSE_TTL_MS } from '../../src/db/page-starts.ts';

afterEach(() => {
  vi.useRealTimers();
});

test('a page tells where the next begins, and where it began itself, for the same set and change version only', () => {
  const starts = new PageStarts();
  starts.remember('set', 'v1', { offset: 200, limit: 100, count: 100, first: 'a', last: 'b', fromStart: false });
  expect(starts.find('set', 'v1', 200)).toEqual({ id: 'a', after: false });
  expect(starts.find('set', 'v1', 300)).toEqual({ id: 'b', after: true });
  expect(starts.find('set', 'v2', 300)).toBeUndefined();
  expect(starts.find('other', 'v1', 300)).toBeUndefined();
  // A short page is the last: nothing begins after it.
  starts.remember('set', 'v1', { offset: 300, limit: 100, count: 40, first: 'c', last: 'd', fromStart: true });
  expect(starts.find('set', 'v1', 400)).toBeUndefined();
  // A page read from a remembered start does not overwrite where it began.
  expect(starts.find('set', 'v1', 300)).toEqual({ id: 'b', after: true });
  // A new change version forgets the set's starts.
  starts.remember('set', 'v2', { offset: 0, limit: 100, count: 100, first: 'x', last: 'y', fromStart: false });
  expect(starts.find('set', 'v1', 200)).toBeUndefined();
  expect(starts.find('set', 'v2', 100)).toEqual({ id: 'y', after: true });
});

test('a remembered start is trusted a few seconds at most', () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  const starts = new PageStarts();
  starts.remember('set', 'v1', { offset: 0, limit: 10, count: 10, first: 'a', last: 'b', fromStart: false });
  expect(starts.find('set', 'v1', 10)).toBeDefined();
  vi.setSystemTime(Date.now() + REUSE_TTL_MS + 1);
  expect(starts.find('set', 'v1', 10)).toBeUndefined();
});
