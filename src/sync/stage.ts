import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { snake, type EntitySpec } from './entities.ts';
import type { IssueLog } from './issues.ts';
import { tombstoneRecord } from './records.ts';

/**
 * Staging: turns one batch of canonical records into rows of `sync_stage`. Each record is
 * validated, put in column form and hashed; one query per batch reads the stored hashes, so only
 * new or changed rows carry their content into the stage. Nothing in the shared schema changes here.
 */

export type StageAction = 'create' | 'update' | 'unchanged' | 'delete';

export type ColumnRow = Record<string, unknown>;

/** The record as stored: snake_case columns in spec order, absent fields as null, children sorted. */
export function toColumnRow(spec: EntitySpec, record: Record<string, unknown>): ColumnRow {
  const row: ColumnRow = {};
  for (const field of spec.fields) row[snake(field)] = record[field] ?? null;
  for (const child of spec.children) {
    const items = (record[child.field] as Record<string, unknown>[] | undefined) ?? [];
    row[child.field] = items
      .map((item) => {
        const out: ColumnRow = {};
        for (const column of child.columns) out[column] = item[camel(column)] ?? null;
        return out;
      })
      // A source may list the same children in another order; that is not a change.
      .sort((a, b) => compare(JSON.stringify(a), JSON.stringify(b)));
  }
  return row;
}

export const contentHash = (row: ColumnRow) => createHash('sha1').update(JSON.stringify(row)).digest('base64url');

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface Stored {
  sourced_id: string;
  content_hash: string;
  status: string;
  source_id: number;
}

interface Staged {
  sourced_id: string;
  action: StageAction;
  content_hash: string | null;
  record: ColumnRow | null;
}

export interface StageContext {
  runId: number;
  sourceId: number;
  sourceName: string;
  /** Records refused before staging (invalid, duplicate, owned elsewhere), per entity. */
  refused: Map<string, number>;
  issues: IssueLog;
}

export async function stageBatch(em: EntityManager, ctx: StageContext, spec: EntitySpec, records: unknown[]): Promise<void> {
  const db = em.getKysely();
  const candidates = new Map<string, { tombstone: true } | { row: ColumnRow; hash: string }>();
  const refuse = (sourcedId: string | null, field: string | null, code: string, message: string) => {
    ctx.refused.set(spec.name, (ctx.refused.get(spec.name) ?? 0) + 1);
    ctx.issues.add({ entity: spec.name, sourcedId, field, severity: 'error', code, message });
  };

  for (const record of records) {
    const sourcedId = typeof (record as { sourcedId?: unknown })?.sourcedId === 'string' ? (record as { sourcedId: string }).sourcedId : null;
    const tomb = tombstoneRecord.safeParse(record);
    const parsed = tomb.success ? tomb : spec.schema.safeParse(record);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        refuse(sourcedId, issue.path.join('.') || null, 'invalid_value', issue.message);
      }
      continue;
    }
    const id = (parsed.data as { sourcedId: string }).sourcedId;
    if (candidates.has(id)) {
      refuse(id, 'sourcedId', 'duplicate_sourced_id', `${spec.name} ${id} appears more than once in this run`);
      continue;
    }
    if (tomb.success) candidates.set(id, { tombstone: true });
    else {
      const row = toColumnRow(spec, parsed.data as Record<string, unknown>);
      candidates.set(id, { row, hash: contentHash(row) });
    }
  }
  if (candidates.size === 0) return;

  const ids = [...candidates.keys()];
  const { rows: stored } = await sql<Stored>`
    select sourced_id, content_hash, status, source_id from ${sql.table(spec.table)}
    where sourced_id = any(${ids}::text[])`.execute(db);
  const storedById = new Map(stored.map((s) => [s.sourced_id, s]));

  const staged: Staged[] = [];
  for (const [id, candidate] of candidates) {
    const existing = storedById.get(id);
    if (existing && existing.status === 'active' && existing.source_id !== ctx.sourceId) {
      refuse(id, 'sourcedId', 'owned_by_other_source', `${spec.name} ${id} belongs to another source; it is left unchanged`);
      continue;
    }
    if ('tombstone' in candidate) {
      const live = existing?.status === 'active';
      staged.push({ sourced_id: id, action: live ? 'delete' : 'unchanged', content_hash: null, record: null });
    } else if (!existing) {
      staged.push({ sourced_id: id, action: 'create', content_hash: candidate.hash, record: candidate.row });
    } else if (existing.status === 'active' && existing.content_hash === candidate.hash) {
      staged.push({ sourced_id: id, action: 'unchanged', content_hash: candidate.hash, record: null });
    } else {
      staged.push({ sourced_id: id, action: 'update', content_hash: candidate.hash, record: candidate.row });
    }
  }
  if (staged.length === 0) return;

  const { rows: inserted } = await sql<{ sourced_id: string }>`
    insert into sync_stage (run_id, entity, sourced_id, action, content_hash, record)
    select ${ctx.runId}, ${spec.name}, x.sourced_id, x.action, x.content_hash, x.record
    from jsonb_to_recordset(${JSON.stringify(staged)}::jsonb)
      as x(sourced_id text, action text, content_hash text, record jsonb)
    on conflict do nothing
    returning sourced_id`.execute(db);
  if (inserted.length < staged.length) {
    const fresh = new Set(inserted.map((r) => r.sourced_id));
    for (const s of staged) {
      if (!fresh.has(s.sourced_id)) {
        refuse(s.sourced_id, 'sourcedId', 'duplicate_sourced_id', `${spec.name} ${s.sourced_id} appears more than once in this run`);
      }
    }
  }
}
