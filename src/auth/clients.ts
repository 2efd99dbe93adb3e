import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

/**
 * API clients for the OAuth 2.0 client-credentials grant. Ids and secrets are random; only the
 * secret's SHA-256 is stored (it is high-entropy, so a slow hash would buy nothing), and the secret
 * is shown once, when the client is made.
 */

export interface Client {
  clientId: string;
  name: string;
  scopes: string[];
  orgs: string[] | null;
  createdAt: string;
  revokedAt: string | null;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');

export async function createClient(orm: MikroORM, input: { name: string; scopes: string[]; orgs?: string[] }) {
  const clientId = `rgc_${randomBytes(12).toString('base64url')}`;
  const secret = randomBytes(32).toString('base64url');
  await sql`insert into api_client (client_id, name, secret_hash, scopes, orgs)
    values (${clientId}, ${input.name}, ${digest(secret)}, ${input.scopes}::text[], ${input.orgs?.length ? input.orgs : null}::text[])`.execute(orm.em.fork().getKysely());
  return { clientId, secret };
}

const columns = sql`client_id as "clientId", name, scopes, orgs,
  to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "createdAt",
  to_char(revoked_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "revokedAt"`;

export async function listClients(orm: MikroORM): Promise<Client[]> {
  const { rows } = await sql<Client>`select ${columns} from api_client order by created_at`.execute(orm.em.fork().getKysely());
  return rows;
}

/** Revokes a client; tokens it already holds stop working too. Returns false when there is no such client. */
export async function revokeClient(orm: MikroORM, clientId: string): Promise<boolean> {
  const result = await sql`update api_client set revoked_at = coalesce(revoked_at, now()) where client_id = ${clientId}`.execute(orm.em.fork().getKysely());
  return Number(result.numAffectedRows ?? 0) > 0;
}

/** The active client with these credentials, or undefined (unknown id, wrong secret or revoked). */
export async function authenticateClient(orm: MikroORM, clientId: string, secret: string): Promise<Client | undefined> {
  const { rows } = await sql<Client & { secretHash: string }>`select ${columns}, secret_hash as "secretHash" from api_client
    where client_id = ${clientId}`.execute(orm.em.fork().getKysely());
  const found = rows[0];
  // Compare even when the id is unknown, so timing does not tell which ids exist.
  const expected = Buffer.from(found?.secretHash ?? digest(randomBytes(16).toString('hex')), 'hex');
  const ok = timingSafeEqual(Buffer.from(digest(secret), 'hex'), expected);
  if (!found || !ok || found.revokedAt) return undefined;
  const { secretHash: _, ...client } = found;
  return client;
}

/** Whether the client may still use its tokens (not revoked, still there). */
export async function clientIsActive(orm: MikroORM, clientId: string): Promise<boolean> {
  const { rows } = await sql`select 1 from api_client where client_id = ${clientId} and revoked_at is null`.execute(orm.em.fork().getKysely());
  return rows.length > 0;
}

/** The orgs a client is limited to and every org below them (sourcedIds): what its org scope covers. */
export async function orgsBelow(orm: MikroORM, orgs: string[]): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`with recursive tree(id) as (
      select unnest(${orgs}::text[]) union select o.sourced_id from org o join tree on o.parent_sourced_id = tree.id)
    select id from tree`.execute(orm.em.fork().getKysely());
  return rows.map((r) => r.id);
}
