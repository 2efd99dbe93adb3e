/**
 * A Bloom filter over strings: "certainly not seen" or "maybe seen", in fixed memory. Used to
 * spot sourcedIds a run may have sent twice without keeping every id in memory.
 */
export class BloomFilter {
  readonly #bits: Uint32Array;
  readonly #size: number;
  readonly #hashes: number;

  /** Sized for `expected` items at about 1% false positives. */
  constructor(expected: number) {
    this.#size = Math.max(1024, Math.ceil(expected * 9.6));
    this.#bits = new Uint32Array(Math.ceil(this.#size / 32));
    this.#hashes = 7;
  }

  /** Adds `value` (within namespace `salt`); returns true when it may have been added before. */
  add(value: string, salt = ''): boolean {
    // Two FNV-1a variants combined (Kirsch–Mitzenmacher double hashing).
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
    let seen = true;
    for (let k = 0; k < this.#hashes; k++) {
      const bit = ((h1 + Math.imul(k, h2 | 1)) >>> 0) % this.#size;
      const word = bit >>> 5;
      const mask = 1 << (bit & 31);
      if ((this.#bits[word]! & mask) === 0) {
        seen = false;
        this.#bits[word]! |= mask;
      }
    }
    return seen;
  }
}
