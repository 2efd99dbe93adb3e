import type { MiddlewareHandler } from 'hono';
import type { AdminCredential } from '../../auth/admin-token.ts';
import type { Caller } from '../../auth/bearer.ts';
import { scopes } from '../../auth/scopes.ts';
import { problem } from '../problem.ts';

/** Every /admin route needs `Authorization: Bearer <admin token>`, or an access token with the admin scope. */
export function adminAuth(credential: AdminCredential, authenticate: (header: string | undefined) => Promise<Caller | undefined>): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    const ok = match !== null && (credential.verify(match[1]!) || (await authenticate(header))?.scopes.has(scopes.admin) === true);
    if (!ok) {
      c.header('WWW-Authenticate', 'Bearer realm="rostergate-admin"');
      return problem(c, 401, 'An admin bearer token (or an access token with the admin scope) is required.');
    }
    await next();
  };
}
