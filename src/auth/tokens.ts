import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Access tokens: short-lived JWTs (HS256) naming the client, its granted scopes and its org scope.
 * The signing key comes from TOKEN_SIGNING_KEY, or in embedded mode is generated once under
 * DATA_DIR (mode 0600) so tokens survive restarts.
 *
 * HS256 is done with node:crypto's HMAC, synchronously: every API request verifies a token, and
 * WebCrypto (what hono/jwt uses) imported the key and ran a thread-pool job per call, a tenth of
 * the gateway's CPU under load. Only HS256 with our own header is accepted.
 */

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

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

  #mac(input: string): Buffer {
    return createHmac('sha256', this.#key).update(input).digest();
  }

  async issue(clientId: string, scopes: readonly string[], orgs: readonly string[] | null): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = { sub: clientId, scope: scopes.join(' '), iat, exp: iat + this.ttlSeconds, iss: ISSUER, ...(orgs ? { orgs: [...orgs] } : {}) };
    const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${body}.${this.#mac(body).toString('base64url')}`;
  }

  /** The token's claims, or undefined when it is malformed, forged, expired or not ours. */
  async verify(token: string): Promise<TokenClaims | undefined> {
    const [header, payload, signature, extra] = token.split('.');
    if (header !== HEADER || !payload || !signature || extra !== undefined) return undefined;
    const given = Buffer.from(signature, 'base64url');
    const expected = this.#mac(`${header}.${payload}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
      const now = Math.floor(Date.now() / 1000);
      const valid = claims.iss === ISSUER && typeof claims.sub === 'string' && typeof claims.scope === 'string' && typeof claims.exp === 'number' && claims.exp > now;
      return valid ? claims : undefined;
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
