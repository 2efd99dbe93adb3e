import type { Kysely, RawBuilder } from 'kysely';

/** Where a page of a set is known to begin: at a key, or just after one (the previous page's last). */
export interface PageStart { id: string; after: boolean }

/** Identifies a filtered set by its count statement and values, for what is reused per set (totals, page starts). */
export function setKey(db: Kysely<any>, count: RawBuilder<unknown>) {
  const compiled = count.compile(db);
  return `${compiled.sql}\u0000${JSON.stringify(compiled.parameters)}`;
}

/** How long a remembered start (or total) is trusted at most: a write still committing has taken its change version already. */
export const REUSE_TTL_MS = 5_000;

/**
 * Where recent pages of a set (a filtered collection in one fixed order, identified by the caller)
 * begin, by offset, while the change-version sequence has not moved and for a few seconds at most.
 * A page served tells where the next one begins (after its last row) and where it began itself;
 * so a client paging through a large collection with offset and limit, or asking for the same deep
 * offset again and again, costs an index lookup per page instead of a walk past every row before it.
 */
export class PageStarts {
  readonly #sets = new Map<string, { version: string; byOffset: Map<number, PageStart & { at: number }> }>();

  find(set: string, version: string, offset: number): PageStart | undefined {
    const known = this.#sets.get(set);
    const at = known?.version === version ? known.byOffset.get(offset) : undefined;
    return at && Date.now() - at.at < REUSE_TTL_MS ? { id: at.id, after: at.after } : undefined;
  }

  /** A page of `count` rows from `first` to `last`, asked for at `offset` (`fromStart`: it was read from a remembered start). */
  remember(set: string, version: string, page: { offset: number; limit: number; count: number; first: string; last: string; fromStart: boolean }) {
    if (!page.count) return;
    let entry = this.#sets.get(set);
    if (!entry || entry.version !== version) {
      if (this.#sets.size >= 1000) this.#sets.delete(this.#sets.keys().next().value!);
      this.#sets.set(set, (entry = { version, byOffset: new Map() }));
    }
    if (entry.byOffset.size >= 10_000) return;
    const at = Date.now();
    if (!page.fromStart && page.offset > 0) entry.byOffset.set(page.offset, { id: page.first, after: false, at });
    if (page.count === page.limit) entry.byOffset.set(page.offset + page.limit, { id: page.last, after: true, at });
  }
}
