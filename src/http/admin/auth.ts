import type { MiddlewareHandler } from 'hono';
import type { AdminCredential } from '../../auth/admin-token.ts';
import { problem } from '../problem.ts';

/** Every /admin route needs `Authorization: Bearer <admin token>`. */
export function adminAuth(credential: AdminCredential): MiddlewareHandler {
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (!match || !credential.verify(match[1]!)) {
      c.header('WWW-Authenticate', 'Bearer realm="rostergate-admin"');
      return problem(c, 401, 'An admin bearer token is required.');
    }
    await next();
  };
}
