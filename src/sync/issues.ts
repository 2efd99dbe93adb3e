import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

import type { SourceIssue } from './records.ts';

export type RunIssue = SourceIssue;

/**
 * Collects a run's issues and writes them in bulk. Past `cap` stored issues only the count grows,
 * so a source that is wrong on every row cannot fill the database.
 */
export class IssueLog {
  #pending: RunIssue[] = [];
  #stored = 0;
  total = 0;
  /** Issues of severity error (all-or-nothing runs apply nothing when there is one). */
  errors = 0;

  readonly runId: number;
  readonly cap: number;

  constructor(runId: number, cap: number) {
    this.runId = runId;
    this.cap = cap;
  }

  add(issue: RunIssue) {
    this.total++;
    if (issue.severity === 'error') this.errors++;
    if (this.#stored + this.#pending.length < this.cap) this.#pending.push(issue);
  }

  async flush(em: EntityManager) {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#stored += batch.length;
    await sql`
      insert into sync_issue (run_id, entity, sourced_id, field, file, line, severity, code, message)
      select ${this.runId}, x.entity, x."sourcedId", x.field, x.file, x.line, x.severity, x.code, x.message
      from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb)
        as x(entity text, "sourcedId" text, field text, file text, line int, severity text, code text, message text)`.execute(em.getKysely());
  }

  /** How many more issues may still be stored. */
  room() {
    return Math.max(this.cap - this.#stored - this.#pending.length, 0);
  }

  /** Issues found and written by SQL elsewhere (reference resolution) count here too. */
  recordExternal(found: number, stored: number, severity: 'error' | 'warning' = 'error') {
    this.total += found;
    if (severity === 'error') this.errors += found;
    this.#stored += stored;
  }
}
