import type { MikroORM } from '@mikro-orm/postgresql';
import { clientIsActive } from './clients.ts';
import type { TokenIssuer } from './tokens.ts';

/** Who is calling, from a bearer access token: the client, its granted scopes and its org scope. */
export interface Caller {
  clientId: string;
  scopes: Set<string>;
  orgs?: string[];
}

/**
 * Resolves `Authorization: Bearer <jwt>` to a caller. A token stays valid until it expires, except
 * that revoking its client stops it within `revocationSeconds` (client status is cached that long,
 * so a busy API does not ask the database on every request).
 */
export function bearerAuthenticator(orm: MikroORM, tokens: TokenIssuer, revocationSeconds = 10) {
  const active = new Map<string, { ok: boolean; until: number }>();
  return async (header: string | undefined): Promise<Caller | undefined> => {
    const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header ?? '');
    if (!match) return undefined;
    const claims = await tokens.verify(match[1]!);
    if (!claims) return undefined;
    const now = Date.now();
    let status = active.get(claims.sub);
    if (!status || status.until < now) {
      status = { ok: await clientIsActive(orm, claims.sub), until: now + revocationSeconds * 1000 };
      if (active.size > 10_000) active.clear();
      active.set(claims.sub, status);
    }
    if (!status.ok) return undefined;
    return { clientId: claims.sub, scopes: new Set(claims.scope.split(' ').filter(Boolean)), ...(claims.orgs ? { orgs: claims.orgs } : {}) };
  };
}
