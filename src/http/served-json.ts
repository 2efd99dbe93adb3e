/**
 * Rows' JSON as served, in memory, by resource, base, id and etag (OneRoster: hrefs under the
 * request's base, the first tier before `oneroster_cache`; Ed-Fi: items). A changed row has a new
 * etag, so an entry is never stale, only unused; once the entries pass `maxBytes`, the oldest not
 * read since they were last passed over go first. Kept as bytes, so a page is written without
 * turning its rows into strings and back.
 */
export class ServedJson {
  /** `used`: read since eviction last passed over it, which then passes it once more (a hit does not reorder the map). */
  readonly #entries = new Map<string, { json: Buffer; used: boolean }>();
  /**
   * Keys in the order eviction passes over them, from `#head`. Kept apart from the map: evicting
   * by iterating the map from its start would walk every slot deleted since its last rehash, which
   * made each insert cost in proportion to the map once full (a full Ed-Fi pull: minutes).
   */
  #queue: string[] = [];
  #head = 0;
  #bytes = 0;
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  static key(resource: string, base: string, id: string, etag: string) {
    return `${resource}\u0000${base}\u0000${id}\u0000${etag}`;
  }

  get(key: string): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    entry.used = true;
    return entry.json;
  }

  set(key: string, json: Buffer) {
    if (json.length > this.maxBytes) return;
    const old = this.#entries.get(key);
    if (old) {
      this.#bytes += json.length - old.json.length;
      old.json = json;
    } else {
      this.#entries.set(key, { json, used: false });
      this.#queue.push(key);
      this.#bytes += json.length;
    }
    while (this.#bytes > this.maxBytes && this.#head < this.#queue.length) {
      const k = this.#queue[this.#head++]!;
      const entry = this.#entries.get(k);
      if (!entry) continue;
      if (entry.used || k === key) {
        entry.used = false;
        this.#queue.push(k);
        continue;
      }
      this.#entries.delete(k);
      this.#bytes -= entry.json.length;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  get bytes() {
    return this.#bytes;
  }

  get entries() {
    return this.#entries.size;
  }
}

const COMMA = Buffer.from(',');
/** `open`, the items' JSON separated by commas, `close`: a page written as one buffer, without decoding what was kept. */
export function joinJson(open: string, items: readonly Buffer[], close: string) {
  const parts: Buffer[] = [Buffer.from(open)];
  for (const [i, item] of items.entries()) parts.push(...(i ? [COMMA, item] : [item]));
  parts.push(Buffer.from(close));
  return Buffer.concat(parts);
}
