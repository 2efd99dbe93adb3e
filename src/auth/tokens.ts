import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sign, verify } from 'hono/jwt';

/**
 * Access tokens: short-lived JWTs (HS256) naming the client, its granted scopes and its org scope.
 * The signing key comes from TOKEN_SIGNING_KEY, or in embedded mode is generated once under
 * DATA_DIR (mode 0600) so tokens survive restarts.
 */

export interface TokenClaims {
  /** client id */
  sub: string;
  scope: string;
  /** Orgs the client is limited to; absent: every org. */
  orgs?: string[];
  iat: number;
  exp: number;
  iss: string;
}

const ISSUER = 'rostergate';

export class TokenIssuer {
  readonly #key: string;
  readonly ttlSeconds: number;

  constructor(key: string, ttlSeconds: number) {
    this.#key = key;
    this.ttlSeconds = ttlSeconds;
  }

  async issue(clientId: string, scopes: readonly string[], orgs: readonly string[] | null): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = { sub: clientId, scope: scopes.join(' '), iat, exp: iat + this.ttlSeconds, iss: ISSUER, ...(orgs ? { orgs: [...orgs] } : {}) };
    return sign({ ...claims }, this.#key, 'HS256');
  }

  /** The token's claims, or undefined when it is malformed, forged, expired or not ours. */
  async verify(token: string): Promise<TokenClaims | undefined> {
    try {
      const claims = (await verify(token, this.#key, { alg: 'HS256', iss: ISSUER })) as unknown as TokenClaims;
      return typeof claims.sub === 'string' && typeof claims.scope === 'string' ? claims : undefined;
    } catch {
      return undefined;
    }
  }
}

export const signingKeyFile = (dataDir: string) => join(dataDir, 'token-signing.key');

/** TOKEN_SIGNING_KEY, or (embedded mode) the key kept under DATA_DIR, made on first use. */
export function signingKey(config: { TOKEN_SIGNING_KEY?: string; DATA_DIR: string }): string {
  if (config.TOKEN_SIGNING_KEY) return config.TOKEN_SIGNING_KEY;
  const file = signingKeyFile(config.DATA_DIR);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.DATA_DIR, { recursive: true });
  const key = randomBytes(48).toString('base64url');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
