import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

/**
 * Admin console accounts and sessions. Passwords are hashed with scrypt (N=2^15, r=8, p=1: about
 * 100 ms and 32 MB per attempt, so a stolen table is slow to guess), each with its own salt. Five
 * failed sign-ins in a row lock the account for 15 minutes. A session is a random token in the
 * cookie; the table keeps only its SHA-256, with the session's CSRF token and expiry.
 */

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: object) => Promise<Buffer>;
const PARAMS = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const MAX_FAILURES = 5;
export const LOCK_MINUTES = 15;
export const SESSION_HOURS = 8;

export class AdminError extends Error {}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, 32, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: PARAMS.maxmem });
  return timingSafeEqual(actual, expected);
}

/** A password good enough for an account that can change every roster of a district. */
export function checkPassword(password: string): string | undefined {
  if (password.length < 12) return 'the password needs at least 12 characters';
  if (password.length > 200) return 'the password is longer than 200 characters';
  return undefined;
}

export async function createAdmin(orm: MikroORM, username: string, password: string): Promise<void> {
  if (!/^[A-Za-z0-9._@-]{3,64}$/.test(username)) throw new AdminError('usernames are 3 to 64 letters, digits or . _ @ -');
  const weak = checkPassword(password);
  if (weak) throw new AdminError(weak);
  const hash = await hashPassword(password);
  const result = await sql`insert into admin_account (username, password_hash) values (${username}, ${hash}) on conflict (username) do nothing`
    .execute(orm.em.fork().getKysely());
  if (Number(result.numAffectedRows ?? 0) === 0) throw new AdminError(`an admin named ${username} already exists`);
}

export async function listAdmins(orm: MikroORM) {
  const { rows } = await sql<{ username: string; createdAt: string; lockedUntil: string | null }>`select username,
      to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "createdAt",
      case when locked_until > now() then to_char(locked_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end as "lockedUntil"
    from admin_account order by username`.execute(orm.em.fork().getKysely());
  return rows;
}

export async function unlockAdmin(orm: MikroORM, username: string): Promise<boolean> {
  const result = await sql`update admin_account set failed_attempts = 0, locked_until = null where username = ${username}`.execute(orm.em.fork().getKysely());
  return Number(result.numAffectedRows ?? 0) > 0;
}

export async function countAdmins(orm: MikroORM): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from admin_account`.execute(orm.em.fork().getKysely());
  return rows[0]!.n;
}

export type SignIn = { ok: true; token: string } | { ok: false; locked: boolean };

/**
 * Checks a username and password; on success opens a session (the token goes in the cookie). An
 * unknown username costs as much as a wrong password, and a locked account says so only once
 * the password was right, so neither tells which usernames exist.
 */
export async function signIn(orm: MikroORM, username: string, password: string): Promise<SignIn> {
  const db = orm.em.fork().getKysely();
  const { rows } = await sql<{ id: number; hash: string; locked: boolean }>`select id, password_hash as hash, coalesce(locked_until > now(), false) as locked
    from admin_account where username = ${username}`.execute(db);
  const account = rows[0];
  const matches = await passwordMatches(password, account?.hash ?? (await hashPassword(randomBytes(8).toString('hex'))));
  if (!account) return { ok: false, locked: false };
  if (account.locked) return { ok: false, locked: matches };
  if (!matches) {
    await sql`update admin_account set failed_attempts = failed_attempts + 1,
        locked_until = case when failed_attempts + 1 >= ${MAX_FAILURES} then now() + make_interval(mins => ${LOCK_MINUTES}) end
      where id = ${account.id}`.execute(db);
    return { ok: false, locked: false };
  }
  await sql`update admin_account set failed_attempts = 0, locked_until = null where id = ${account.id}`.execute(db);
  const token = randomBytes(32).toString('base64url');
  await sql`insert into admin_session (token_hash, account_id, csrf_token, expires_at)
    values (${digest(token)}, ${account.id}, ${randomBytes(24).toString('base64url')}, now() + make_interval(hours => ${SESSION_HOURS}))`.execute(db);
  return { ok: true, token };
}

export interface AdminSessionView { username: string; csrfToken: string }

/** The live session of a cookie token, or undefined. */
export async function sessionOf(orm: MikroORM, token: string | undefined): Promise<AdminSessionView | undefined> {
  if (!token) return undefined;
  const { rows } = await sql<AdminSessionView>`select a.username, s.csrf_token as "csrfToken" from admin_session s join admin_account a on a.id = s.account_id
    where s.token_hash = ${digest(token)} and s.expires_at > now()`.execute(orm.em.fork().getKysely());
  return rows[0];
}

export async function signOut(orm: MikroORM, token: string): Promise<void> {
  await sql`delete from admin_session where token_hash = ${digest(token)} or expires_at < now()`.execute(orm.em.fork().getKysely());
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');
