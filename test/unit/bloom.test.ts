import { describe, expect, it } from 'vitest';
import { BloomFilter } from '../../src/sync/bloom.ts';

describe('BloomFilter', () => {
  it('never forgets a value and rarely flags a new one, even for look-alike ids', () => {
    const filter = new BloomFilter(4_000_000);
    let falsePositives = 0;
    for (let i = 0; i < 600_000; i++) if (filter.add(`enr-${String(i).padStart(7, '0')}`, 'enrollment')) falsePositives++;
    // Sequential ids differ only in their last characters: a weakly mixed hash flags ~1% here.
    expect(falsePositives).toBeLessThan(600);
    for (let i = 0; i < 600_000; i += 997) expect(filter.add(`enr-${String(i).padStart(7, '0')}`, 'enrollment')).toBe(true);
  });

  it('keeps namespaces apart', () => {
    const filter = new BloomFilter(1000);
    filter.add('a-1', 'user');
    expect(filter.add('a-1', 'org')).toBe(false);
    expect(filter.add('a-1', 'user')).toBe(true);
  });
});
