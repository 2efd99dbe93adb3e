/**
 * A Bloom filter over strings: "certainly not seen" or "maybe seen", in fixed memory. Used to
 * spot sourcedIds a run may have sent twice without keeping every id in memory.
 *
 * Blocked: all of a value's bits lie in one 512-bit block (one cache line), so an add costs one
 * cache miss instead of one per bit; the filter is several MB and is hit once per record.
 */
export class BloomFilter {
  readonly #words: Uint32Array;
  readonly #blocks: number;

  /** Sized for `expected` items at about 1% false positives (far fewer while it is not full). */
  constructor(expected: number) {
    this.#blocks = Math.max(1, Math.ceil((expected * 10) / 512));
    this.#words = new Uint32Array(this.#blocks * 16);
  }

  /** Adds `value` (within namespace `salt`); returns true when it may have been added before. */
  add(value: string, salt = ''): boolean {
    // Two FNV-1a variants: one picks the block, the other the bits inside it.
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (let i = 0; i < salt.length; i++) {
      h1 = Math.imul(h1 ^ salt.charCodeAt(i), 0x01000193);
      h2 = Math.imul(h2 ^ salt.charCodeAt(i), 0x5bd1e995);
    }
    h1 = Math.imul(h1 ^ 0xff, 0x01000193);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    h1 = mix(h1);
    h2 = mix(h2);
    const base = (h1 % this.#blocks) * 16;
    const step = mix(h2 ^ 0x9e3779b9) | 1;
    let seen = true;
    for (let k = 0; k < BITS_PER_VALUE; k++) {
      // The top bits of a multiply-mixed hash are the well-mixed ones.
      const bit = (h2 + Math.imul(k, step)) >>> 23;
      const word = base + (bit >>> 5);
      const mask = 1 << (bit & 31);
      if ((this.#words[word]! & mask) === 0) {
        seen = false;
        this.#words[word]! |= mask;
      }
    }
    return seen;
  }
}

const BITS_PER_VALUE = 7;

/** MurmurHash3's finaliser: spreads every input bit over the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
