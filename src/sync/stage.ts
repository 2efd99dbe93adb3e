import { hash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { EntitySpec } from './entities.ts';
import type { IssueLog } from './issues.ts';
import { tombstoneRecord } from './records.ts';
import { uuidv7 } from './uuid.ts';

/**
 * Staging: turns one batch of canonical records into working rows. Each record is validated, put
 * in column form and hashed; one query reads the stored hashes, so only new or changed rows carry
 * their content into `sync_stage`, and one row in `sync_seen` lists every id of the batch. Nothing
 * in the shared schema changes here.
 */

export type StageAction = 'create' | 'update' | 'delete';

export type ColumnRow = Record<string, unknown>;

/** The record as stored: snake_case columns in spec order, absent fields as null, children sorted. */
export function toColumnRow(spec: EntitySpec, record: Record<string, unknown>): ColumnRow {
  const row: ColumnRow = {};
  for (let i = 0; i < spec.fields.length; i++) row[spec.columns[i]!] = record[spec.fields[i]!] ?? null;
  for (const child of spec.children) {
    const items = (record[child.field] as Record<string, unknown>[] | undefined) ?? [];
    const rows = items.map((item) => {
      const out: ColumnRow = {};
      for (let i = 0; i < child.fields.length; i++) out[child.columns[i]!] = item[child.fields[i]!] ?? null;
      return out;
    });
    // A source may list the same children in another order; that is not a change.
    if (rows.length > 1) rows.sort((a, b) => compare(JSON.stringify(a), JSON.stringify(b)));
    row[child.field] = rows;
  }
  return row;
}

export const contentHash = (row: ColumnRow) => hash('sha1', JSON.stringify(row), 'base64url');

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
  /** Records refused before staging (invalid, owned elsewhere), per entity. */
  refused: Map<string, number>;
  /** Ids written to `sync_seen` (repeats included), per entity. */
  seen: Map<string, number>;
  issues: IssueLog;
}

/** Validates, hashes and classifies one batch; returns the work to write, or null. */
export function prepareBatch(ctx: StageContext, spec: EntitySpec, records: readonly unknown[]) {
  const candidates = new Map<string, { tombstone: true } | { row: ColumnRow; hash: string }>();
  const duplicates: string[] = [];
  for (const record of records) {
    const tombstone = (record as { status?: unknown } | null)?.status === 'tobedeleted';
    const parsed = tombstone ? tombstoneRecord.safeParse(record) : spec.schema.safeParse(record);
    if (!parsed.success) {
      const raw = (record as { sourcedId?: unknown } | null)?.sourcedId;
      const sourcedId = typeof raw === 'string' ? raw : null;
      refuse(ctx, spec, 1);
      for (const issue of parsed.error.issues) {
        ctx.issues.add({ entity: spec.name, sourcedId, field: issue.path.join('.') || null, severity: 'error', code: 'invalid_value', message: issue.message });
      }
      continue;
    }
    const id = (parsed.data as { sourcedId: string }).sourcedId;
    // Duplicates are judged over the whole run, when every batch is in (see resolve.ts).
    if (candidates.has(id)) duplicates.push(id);
    else if (tombstone) candidates.set(id, { tombstone: true });
    else {
      const row = toColumnRow(spec, parsed.data as Record<string, unknown>);
      candidates.set(id, { row, hash: contentHash(row) });
    }
  }
  return candidates.size === 0 ? null : { candidates, ids: [...candidates.keys(), ...duplicates] };
}

function refuse(ctx: StageContext, spec: EntitySpec, n: number) {
  ctx.refused.set(spec.name, (ctx.refused.get(spec.name) ?? 0) + n);
}

export async function writeBatch(
  em: EntityManager,
  ctx: StageContext,
  spec: EntitySpec,
  prepared: NonNullable<ReturnType<typeof prepareBatch>>,
): Promise<void> {
  const db = em.getKysely();
  const { candidates, ids } = prepared;
  const { rows: stored } = await sql<Stored>`
    select t.sourced_id, t.content_hash, t.status, t.source_id from ${sql.table(spec.table)} t
    where t.sourced_id = any(${[...candidates.keys()]}::text[])`.execute(db);
  const storedById = new Map(stored.map((s) => [s.sourced_id, s]));

  const staged: Staged[] = [];
  const seen: string[] = [];
  const now = Date.now();
  for (const [id, candidate] of candidates) {
    const existing = storedById.get(id);
    if (existing && existing.status === 'active' && existing.source_id !== ctx.sourceId) {
      refuse(ctx, spec, 1);
      ctx.issues.add({
        entity: spec.name, sourcedId: id, field: 'sourcedId', severity: 'error', code: 'owned_by_other_source',
        message: `${spec.name} ${id} belongs to another source; it is left unchanged`,
      });
      continue;
    }
    seen.push(id);
    if ('tombstone' in candidate) {
      if (existing?.status === 'active') staged.push({ sourced_id: id, action: 'delete', content_hash: null, record: null });
    } else if (!existing) {
      staged.push({ sourced_id: id, action: 'create', content_hash: candidate.hash, record: { ...candidate.row, edfi_id: uuidv7(now) } });
    } else if (existing.status !== 'active' || existing.content_hash !== candidate.hash) {
      staged.push({ sourced_id: id, action: 'update', content_hash: candidate.hash, record: candidate.row });
    }
  }
  // Ids refused above still count as seen when they repeat, so duplicates are found run-wide.
  const repeated = ids.slice(candidates.size);
  ctx.seen.set(spec.name, (ctx.seen.get(spec.name) ?? 0) + seen.length + repeated.length);
  await sql`insert into sync_seen (run_id, entity, sourced_ids) values (${ctx.runId}, ${spec.name}, ${[...seen, ...repeated]}::text[])`.execute(db);
  if (staged.length === 0) return;
  await sql`
    insert into sync_stage (run_id, entity, sourced_id, action, content_hash, record)
    select ${ctx.runId}, ${spec.name}, x.sourced_id, x.action, x.content_hash, x.record
    from jsonb_to_recordset(${JSON.stringify(staged)}::jsonb)
      as x(sourced_id text, action text, content_hash text, record jsonb)`.execute(db);
}
