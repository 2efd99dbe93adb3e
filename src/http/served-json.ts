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
      this.#bytes -= old.json.length;
      this.#entries.delete(key);
    }
    this.#entries.set(key, { json, used: false });
    this.#bytes += json.length;
    for (const [k, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(k);
      if (entry.used && k !== key) {
        entry.used = false;
        this.#entries.set(k, entry);
      } else {
        this.#bytes -= entry.json.length;
      }
    }
  }

  get bytes() {
    return this.#bytes;
  }

  get entries() {
    return this.#entries.size;
  }
}
