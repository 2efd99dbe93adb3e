import type { z } from 'zod';
import type { EntityName, RecordBatch, RecordsByEntity, SourceIssue, TombstoneRecord } from './records.ts';

/**
 * What HTTP connectors share while they read: objects checked against the fields their mapping
 * needs (the rest reported and left out, never aborting a page), and issues carried to the engine
 * on the next batch.
 */
export class PullLog {
  readonly #system: string;
  #pending: SourceIssue[] = [];

  /** `system` names the source in messages and codes ("Canvas" → `invalid_canvas_object`). */
  constructor(system: string) {
    this.#system = system;
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
