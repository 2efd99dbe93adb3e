import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { timeout } from 'hono/timeout';
import type { Context } from 'hono';
import { AuditLog } from '../audit.ts';
import { metrics, httpMetrics, registry } from '../metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import { sql } from 'kysely';
import type { AdminCredential } from '../auth/admin-token.ts';
import { genericPlans } from '../db/prepared.ts';
import { registerEdfi } from '../../standards/edfi/routes.ts';
import { registerGradebook } from '../../standards/oneroster/rest/gradebook-routes.ts';
import { registerRostering } from '../../standards/oneroster/rest/routes.ts';
import { ServedJson } from './served-json.ts';
import { connectors } from '../../connectors/index.ts';
import { bearerAuthenticator } from '../auth/bearer.ts';
import { secretBox, type SecretBox } from '../auth/secret-box.ts';
import type { TokenIssuer } from '../auth/tokens.ts';
import type { Config } from '../config/config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../log.ts';
import { registerAuditRoutes } from './admin/audit.ts';
import { adminAuth } from './admin/auth.ts';
import { registerImportRoutes } from './admin/imports.ts';
import { registerRunRoutes } from './admin/runs.ts';
import { registerSourceRoutes } from './admin/sources.ts';
import { consoleApp } from './console/index.ts';
import { registerDocs } from './docs.ts';
import { registerOAuthRoutes } from './oauth.ts';
import { compressed, securityHeaders } from './response-headers.ts';
import { problem } from './problem.ts';
import { version } from '../version.ts';

export interface AppDeps {
  orm: Orm;
  config: Config;
  tokens: TokenIssuer;
  /** Seals source secrets (default: from the config; see src/auth/secret-box.ts). */
  box?: SecretBox;
  credential: AdminCredential;
  logger: Logger;
  /** The audit trail (default: one of its own; the server flushes it at shutdown). */
  audit?: AuditLog;
}

export type AppEnv = { Variables: { requestId: string; clientId?: string } };

/** The gateway's HTTP surface: health, the admin API and its OpenAPI document. */
export function createApp({ orm, config, tokens, box, credential, logger, audit = new AuditLog(orm, logger) }: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({
    // One error envelope for every validation failure, never zod's raw output.
    defaultHook: (result, c) => {
      if (result.success) return;
      const errors = result.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
      return problem(c, 400, 'The request is not valid.', { errors });
    },
  });

  app.use(requestId());
  app.use(httpMetrics());
  app.use(securityHeaders());
  // OneRoster pages run to hundreds of kilobytes of JSON; clients that accept gzip get a tenth of it.
  app.use('/ims/*', compressed());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.info('request', {
      requestId: c.get('requestId'), clientId: c.get('clientId'), method: c.req.method, path: c.req.path, status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  // Every body has a ceiling; CSV uploads stream to disk under their own (IMPORT_MAX_UPLOAD_BYTES).
  const uploads = new Set(['/admin/imports', '/console/upload']);
  const limitBody = bodyLimit({ maxSize: config.MAX_BODY_BYTES, onError: (c) => problem(c, 413, `The request body is larger than ${config.MAX_BODY_BYTES} bytes (MAX_BODY_BYTES).`) });
  // The Ed-Fi door and the gradebook check their own bodies, to answer in their standard's error shape.
  const ownLimit = (path: string) => path.startsWith('/data/') || path.startsWith('/ims/oneroster/gradebook/');
  app.use(async (c, next) => (uploads.has(c.req.path) || ownLimit(c.req.path) ? next() : limitBody(c, next)));
  const apis = ['/ims/*', '/data/*', '/changeQueries/*'];
  for (const path of apis) {
    app.use(path, timeout(config.REQUEST_TIMEOUT_SECONDS * 1000, () => new HTTPException(503, { message: `The request took longer than ${config.REQUEST_TIMEOUT_SECONDS} s.` })));
    // Browsers may call the APIs only from origins the operator named.
    if (config.CORS_ORIGINS) app.use(path, cors({ origin: config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean), exposeHeaders: ['X-Total-Count', 'Link', 'Total-Count', 'ETag'] }));
  }
  if (config.CORS_ORIGINS) app.use('/oauth/token', cors({ origin: config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean) }));
  // Who read or changed what: every API request, every admin action.
  const client = (c: Context) => {
    const id = c.get('clientId' as never) as string | undefined;
    return { actorKind: id ? ('client' as const) : ('anonymous' as const), actor: id ?? null };
  };
  for (const path of apis) app.use(path, audit.middleware(client));
  app.use('/admin/*', audit.middleware((c) => (c.get('clientId' as never) ? client(c) : { actorKind: 'admin', actor: 'admin-token' })));
  app.use('/console/*', audit.middleware(
    (c) => ({ actorKind: 'console', actor: (c.get('admin' as never) as { username?: string } | undefined)?.username ?? null }),
    (c) => c.req.method !== 'GET' || c.req.path.endsWith('.csv'),
  ));
  const limiter = new RateLimiter(config.RATE_LIMIT_PER_SECOND, config.RATE_LIMIT_BURST);
  const rateLimit = (clientId: string) => {
    const wait = limiter.take(clientId);
    if (wait) metrics.rateLimited('api');
    return wait;
  };

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => {
    metrics.pool('orm', (await orm.em.getConnection().getNativeClient()) as never);
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });
  app.get('/readyz', async (c) => {
    try {
      await sql`select 1`.execute(orm.em.fork().getKysely());
      return c.json({ status: 'ready' });
    } catch (error) {
      logger.warn('readiness check failed', { error });
      return problem(c, 503, 'The database is not reachable.');
    }
  });

  const authenticate = bearerAuthenticator(orm, tokens);
  registerOAuthRoutes(app, orm, tokens, logger);
  const reads = genericPlans(orm, 'read', { onPool: (pool) => metrics.pool('oneroster', pool), onError: (error) => logger.error('oneroster database pool failed', { error }) });
  const memory = new ServedJson(config.ONEROSTER_JSON_CACHE_MB * 1024 * 1024);
  metrics.jsonCache('oneroster', memory);
  registerRostering(app, orm, {
    maxLimit: config.ONEROSTER_MAX_LIMIT, authenticate, rateLimit, reads, memory,
    onError: (error) => logger.error('oneroster request failed', { error }),
  });
  registerGradebook(app, orm, {
    maxLimit: config.ONEROSTER_MAX_LIMIT, authenticate, rateLimit, reads, memory, maxBodyBytes: config.MAX_BODY_BYTES,
    onError: (error) => logger.error('oneroster gradebook request failed', { error }),
  });

  const items = new ServedJson(config.EDFI_JSON_CACHE_MB * 1024 * 1024);
  metrics.jsonCache('edfi', items);
  registerEdfi(app, orm, {
    authenticate, rateLimit, maxBodyBytes: config.MAX_BODY_BYTES, memory: items,
    onPool: (pool) => metrics.pool('edfi', pool), onError: (error) => logger.error('ed-fi request failed', { error }),
  });

  app.use('/admin/*', adminAuth(credential, authenticate));
  const sourceDeps = { orm, config, logger, connectors, box: box ?? secretBox(config) };
  registerRunRoutes(app, orm);
  registerAuditRoutes(app, orm);
  registerImportRoutes(app, orm, config, logger);
  registerSourceRoutes(app, sourceDeps);
  app.route('/', consoleApp(sourceDeps) as never);

  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi/admin.json', adminDocument);
  registerDocs(app);

  app.notFound((c) => problem(c, 404, `No route for ${c.req.method} ${c.req.path}.`));
  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status === 503) return problem(c, 503, error.message);
    logger.error('unhandled error', { requestId: c.get('requestId'), error });
    return problem(c, 500, 'Something went wrong on our side; the request id helps us find it.');
  });
  return app;
}

export const adminDocument = {
  openapi: '3.1.0',
  info: { title: 'Rostergate admin API', version, description: 'Sync runs and holds, CSV imports and exports; later sources and clients.' },
  security: [{ adminToken: [] }],
};
