import type { z } from 'zod';
import type { EntityName, RecordBatch, RecordsByEntity, SourceIssue, TombstoneRecord } from './records.ts';

/** A listing a source may refuse: the entity it lists, and what cannot be complete without it. */
export interface Scope { entity: EntityName; incomplete: readonly EntityName[] }

/**
 * What HTTP connectors share while they read: objects checked against the fields their mapping
 * needs (the rest reported and left out, never aborting a page), issues carried to the engine on the
 * next batch, and which entities are still listed completely.
 */
export class PullLog {
  readonly #system: string;
  readonly #complete: Set<EntityName>;
  #pending: SourceIssue[] = [];

  /** `system` names the source in messages and codes ("Canvas" → `invalid_canvas_object`); `complete`: what the run lists completely unless a scope is skipped. */
  constructor(system: string, complete: readonly EntityName[] = []) {
    this.#system = system;
    this.#complete = new Set(complete);
  }

  complete(): EntityName[] {
    return [...this.#complete];
  }

  /**
   * A listing's pages. If the source refuses it (`refused` says why, for errors that mean "this
   * credential may not read that"), the listing ends there with a `scope_skipped` warning and what
   * depends on it is no longer complete, so nothing of it is tombstoned; the run goes on.
   */
  async *skippable<T>(pages: AsyncIterable<T>, scope: Scope, what: string, refused: (error: unknown) => string | undefined, onSkip?: () => void): AsyncGenerator<T> {
    try {
      yield* pages;
    } catch (error) {
      const why = refused(error);
      if (why === undefined) throw error;
      for (const entity of scope.incomplete) this.#complete.delete(entity);
      this.add(scope.entity, 'warning', 'scope_skipped', `skipped ${what}: ${why}`);
      onSkip?.();
    }
  }

  add(entity: string, severity: SourceIssue['severity'], code: string, message: string, nativeId: string | null = null, field: string | null = null) {
    this.#pending.push({ entity, sourcedId: nativeId, field, severity, code, message });
  }

  valid<T>(schema: z.ZodType<T>, entity: string, items: readonly unknown[]): T[] {
    const valid: T[] = [];
    for (const item of items) {
      const parsed = schema.safeParse(item);
      if (parsed.success) {
        valid.push(parsed.data);
        continue;
      }
      const issue = parsed.error.issues[0]!;
      const nativeId = (item as { id?: unknown } | null)?.id;
      const field = issue.path.join('.') || null;
      this.add(entity, 'error', `invalid_${this.#system.toLowerCase()}_object`,
        `${this.#system} sent a ${entity} without a usable ${field ?? 'shape'} (${issue.message}); it is left out`,
        typeof nativeId === 'string' || typeof nativeId === 'number' ? String(nativeId) : null, field);
    }
    return valid;
  }

  /** A batch of records, with the issues found since the last one. */
  batch<E extends EntityName>(entity: E, records: (RecordsByEntity[E] | TombstoneRecord)[]): RecordBatch {
    return { entity, records, issues: this.#pending.splice(0) } as RecordBatch;
  }
}

/** Adds `value` to the set under `key` (roles implied per user, observers per student). */
export function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V) {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

/** Drops absent fields (undefined or null), so a record's JSON (and hash) does not depend on how it was built. */
export function clean<T extends object>(record: T): T {
  for (const key of Object.keys(record) as (keyof T)[]) if (record[key] === undefined || record[key] === null) delete record[key];
  return record;
}
