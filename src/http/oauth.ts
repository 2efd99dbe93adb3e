import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { metrics } from '../metrics.ts';
import { bodyLimit } from 'hono/body-limit';
import { authenticateClient } from '../auth/clients.ts';
import type { TokenIssuer } from '../auth/tokens.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../log.ts';
import type { AppEnv } from './app.ts';

/**
 * POST /oauth/token: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4). The client
 * authenticates with HTTP Basic or with client_id/client_secret in the form body; errors are the
 * RFC's JSON errors, never Problem Details, because that is what OAuth clients parse.
 */

type OAuthError = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';

function oauthError(c: Context, status: 400 | 401, error: OAuthError, description: string, basic = false) {
  metrics.token(error);
  if (basic || status === 401) c.header('WWW-Authenticate', 'Basic realm="rostergate", charset="UTF-8"');
  c.header('Cache-Control', 'no-store');
  return c.json({ error, error_description: description }, status);
}

/** The client's credentials from the Authorization header or the form, or why they cannot be read. */
function credentials(c: Context, form: Record<string, string>): { id: string; secret: string; basic: boolean } | { problem: string } {
  const header = c.req.header('authorization');
  if (header) {
    // A secret in the body too would be a second method; a client_id there is not (oauth4webapi sends one).
    if (form.client_secret !== undefined) return { problem: 'use one client authentication method, not both Basic and the form body' };
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0) return { problem: 'the Authorization header must be Basic base64(client_id:client_secret)' };
    let id: string;
    let secret: string;
    try {
      // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
      [id, secret] = [decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '))];
    } catch {
      return { problem: 'the Basic credentials are not valid form-urlencoded text' };
    }
    if (form.client_id !== undefined && form.client_id !== id) return { problem: 'client_id in the body is not the one in the Authorization header' };
    return { id, secret, basic: true };
  }
  if (!form.client_id || !form.client_secret) return { problem: 'client authentication is required (HTTP Basic, or client_id and client_secret in the body)' };
  return { id: form.client_id, secret: form.client_secret, basic: false };
}

/**
 * The request's parameters: a form, as RFC 6749 asks, or a JSON object of strings, which the Ed-Fi
 * ODS/API accepts too (some Ed-Fi clients send it). Anything else: undefined.
 */
async function tokenRequest(type: string | undefined, text: string): Promise<Record<string, string> | undefined> {
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
  if (type !== 'application/json') return undefined;
  try {
    const body = JSON.parse(text) as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body) || Object.values(body).some((v) => typeof v !== 'string')) return undefined;
    return body as Record<string, string>;
  } catch {
    return undefined;
  }
}

const tokenRequestSchema = z.object({
  grant_type: z.literal('client_credentials'),
  scope: z.string().optional().openapi({ description: 'Space-separated scope URIs; default: every scope the client has' }),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
});

export function registerOAuthRoutes(app: OpenAPIHono<AppEnv>, orm: Orm, tokens: TokenIssuer, logger: Logger) {
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/oauth/token',
    summary: 'OAuth 2.0 client credentials: an access token for the OneRoster and Ed-Fi APIs (and, with the admin scope, the admin API)',
    security: [{ clientBasic: [] }, {}],
    request: {
      body: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': { schema: tokenRequestSchema },
          // Accepted as the Ed-Fi ODS/API does.
          'application/json': { schema: tokenRequestSchema },
        },
      },
    },
    responses: {
      200: {
        description: 'The token',
        content: { 'application/json': { schema: z.object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int(), scope: z.string() }) } },
      },
      400: { description: 'RFC 6749 error', content: { 'application/json': { schema: z.object({ error: z.string(), error_description: z.string() }) } } },
      401: { description: 'invalid_client', content: { 'application/json': { schema: z.object({ error: z.string(), error_description: z.string() }) } } },
    },
  });

  app.post('/oauth/token', bodyLimit({ maxSize: 16 * 1024, onError: (c) => oauthError(c, 400, 'invalid_request', 'the request body is too large') }), async (c) => {
    const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
    const form = await tokenRequest(type, await c.req.text());
    if (!form) return oauthError(c, 400, 'invalid_request', 'send the request as application/x-www-form-urlencoded (or a JSON object of strings)');
    const creds = credentials(c, form);
    if ('problem' in creds) return oauthError(c, c.req.header('authorization') ? 400 : 401, c.req.header('authorization') ? 'invalid_request' : 'invalid_client', creds.problem);
    if (!form.grant_type) return oauthError(c, 400, 'invalid_request', 'grant_type is required');
    const client = await authenticateClient(orm, creds.id, creds.secret);
    if (!client) {
      logger.warn('token refused', { requestId: c.get('requestId'), clientId: creds.id, reason: 'invalid_client' });
      return oauthError(c, 401, 'invalid_client', 'unknown client, wrong secret or revoked client', creds.basic);
    }
    if (form.grant_type !== 'client_credentials') return oauthError(c, 400, 'unsupported_grant_type', 'only client_credentials is supported');
    const asked = (form.scope ?? '').split(' ').filter(Boolean);
    const refused = asked.filter((s) => !client.scopes.includes(s));
    if (refused.length) return oauthError(c, 400, 'invalid_scope', `not granted to this client: ${refused.join(' ')}`);
    const granted = asked.length ? [...new Set(asked)] : client.scopes;
    const token = await tokens.issue(client.clientId, granted, client.orgs);
    metrics.token('issued');
    logger.info('token issued', { requestId: c.get('requestId'), clientId: client.clientId, scope: granted.join(' ') });
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json({ access_token: token, token_type: 'Bearer' as const, expires_in: tokens.ttlSeconds, scope: granted.join(' ') }, 200);
  });
}
