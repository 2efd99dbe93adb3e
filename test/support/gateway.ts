import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Orm } from '../../src/db/orm.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';

/** A gateway's app over `orm` as tests use it: fixed keys, silent logs, its own data folder. */
export function gatewayApp(orm: Orm, dataDir: string, signingKey = 's'.repeat(40)) {
  return createApp({
    orm, config: loadConfig({ DATA_DIR: dataDir }), tokens: new TokenIssuer(signingKey, 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
}

/** An access token for an API client from the app's token endpoint (client credentials, HTTP Basic). */
export async function accessToken(app: ReturnType<typeof createApp>, client: { clientId: string; secret: string }, origin = 'https://gw.example') {
  const res = await app.request(`${origin}/oauth/token`, {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
  });
  return ((await res.json()) as { access_token: string }).access_token;
}
