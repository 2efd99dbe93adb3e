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
  // Tokens already verified, until they expire: a client sends the same token with every request, and
  // checking its signature and parsing its claims each time cost 4% of the gateway's CPU under load.
  const verified = new Map<string, { caller: Caller; exp: number }>();
  return async (header: string | undefined): Promise<Caller | undefined> => {
    const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header ?? '');
    if (!match) return undefined;
    const token = match[1]!;
    const now = Date.now();
    let known = verified.get(token);
    if (!known || known.exp * 1000 <= now) {
      const claims = await tokens.verify(token);
      if (!claims) return undefined;
      known = { caller: { clientId: claims.sub, scopes: new Set(claims.scope.split(' ').filter(Boolean)), ...(claims.orgs ? { orgs: claims.orgs } : {}) }, exp: claims.exp };
      if (verified.size >= 10_000) verified.clear();
      verified.set(token, known);
    }
    const clientId = known.caller.clientId;
    let status = active.get(clientId);
    if (!status || status.until < now) {
      status = { ok: await clientIsActive(orm, clientId), until: now + revocationSeconds * 1000 };
      if (active.size > 10_000) active.clear();
      active.set(clientId, status);
    }
    if (!status.ok) return undefined;
    return known.caller;
  };
}
