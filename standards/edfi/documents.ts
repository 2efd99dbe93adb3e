import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { claimCte } from '../../src/sync/change-claims.ts';
import { canonicalJson } from '../../src/sync/copy.ts';
import { uuidv7 } from '../../src/sync/uuid.ts';
import type { Written } from '../../src/sync/write.ts';

/**
 * The `edfi_document` store: Ed-Fi resources that have no place in the OneRoster-shaped hub
 * (descriptors, schoolYearTypes, courseOfferings). The same change rules as canonical rows: a write
 * whose body hashes the same changes nothing; a change takes one version of the global sequence;
 * a delete is a tombstone, so change queries can report it.
 */

export interface StoredDocument {
  id: string;
  status: string;
  etag: string;
  body: Record<string, unknown>;
}

interface Row { id: string; etag: string; change_version: string; last_modified: Date; created?: boolean }
const written = (outcome: Written['outcome'], row: Row): Written => ({
  outcome, edfiId: row.id, etag: row.etag, changeVersion: Number(row.change_version), dateLastModified: row.last_modified,
});

/**
 * Creates or updates the document with this natural key. `id`, when given, is the row being
 * replaced by a PUT (its key may change only where Ed-Fi allows it; the caller checks).
 */
export async function saveDocument(
  em: EntityManager, resource: string, naturalKey: string, keyValues: Record<string, string | number>, body: Record<string, unknown>, id?: string,
): Promise<Written> {
  const hash = createHash('sha1').update(canonicalJson(body)).digest('base64url');
  const db = em.getKysely();
  const values = sql`${resource}, ${naturalKey}, ${JSON.stringify(keyValues)}::jsonb, ${JSON.stringify(body)}::jsonb, ${hash}`;
  const changed = sql`d.content_hash is distinct from excluded.content_hash or d.status <> 'active' or d.natural_key <> excluded.natural_key`;
  // Read first: an upsert that changes nothing would still spend a change version and lock the row.
  const where = id ? sql`id = ${id}` : sql`resource = ${resource} and natural_key = ${naturalKey}`;
  const { rows: stored } = await sql<Row & { content_hash: string; status: string; natural_key: string }>`select id, etag, change_version, last_modified,
      content_hash, status, natural_key from edfi_document where ${where}`.execute(db);
  const same = stored[0]?.content_hash === hash && stored[0].status === 'active' && stored[0].natural_key === naturalKey;
  if (same) return written('unchanged', stored[0]!);
  const { rows } = id
    ? await sql<Row>`with ${claimCte} update edfi_document d set natural_key = ${naturalKey}, key_values = ${JSON.stringify(keyValues)}::jsonb,
          body = ${JSON.stringify(body)}::jsonb, content_hash = ${hash}, status = 'active', change_version = x.cv,
          etag = x.cv::text || '-' || left(${hash}, 8), last_modified = ${new Date()}
        from (select nextval('change_version_seq') as cv from claim) x
        where d.id = ${id} and (d.content_hash <> ${hash} or d.status <> 'active' or d.natural_key <> ${naturalKey})
        returning d.id, d.etag, d.change_version, d.last_modified, false as created`.execute(db)
    : await sql<Row>`with ${claimCte} insert into edfi_document as d (id, resource, natural_key, key_values, body, content_hash, status, change_version, etag, last_modified)
        select ${uuidv7()}::uuid, ${values}, 'active', x.cv, x.cv::text || '-' || left(${hash}, 8), ${new Date()}
        from (select nextval('change_version_seq') as cv from claim) x
        on conflict (resource, natural_key) do update set key_values = excluded.key_values, body = excluded.body,
          content_hash = excluded.content_hash, status = 'active', change_version = excluded.change_version, etag = excluded.etag,
          last_modified = excluded.last_modified
        where ${changed}
        returning d.id, d.etag, d.change_version, d.last_modified, (d.xmax = 0) as created`.execute(db);
  if (rows[0]) return written(rows[0].created ? 'created' : 'updated', rows[0]);
  // Changed meanwhile into what this write would have made it.
  const { rows: current } = await sql<Row>`select id, etag, change_version, last_modified from edfi_document where ${where}`.execute(db);
  return written('unchanged', current[0]!);
}

export async function tombstoneDocument(em: EntityManager, id: string): Promise<boolean> {
  const result = await sql`with ${claimCte} update edfi_document d set status = 'tobedeleted', change_version = x.cv,
      etag = x.cv::text || '-' || left(d.content_hash, 8), last_modified = ${new Date()}
    from (select nextval('change_version_seq') as cv from claim) x
    where d.id = ${id} and d.status = 'active'`.execute(em.getKysely());
  return Number(result.numAffectedRows ?? 0) > 0;
}
