import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { compress } from 'hono/compress';
import { sql } from 'kysely';
import type { AdminCredential } from '../auth/admin-token.ts';
import { registerEdfi } from '../../standards/edfi/routes.ts';
import { registerRostering } from '../../standards/oneroster/rest/routes.ts';
import { connectors } from '../../connectors/index.ts';
import { bearerAuthenticator } from '../auth/bearer.ts';
import { secretBox, type SecretBox } from '../auth/secret-box.ts';
import type { TokenIssuer } from '../auth/tokens.ts';
import type { Config } from '../config/config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../log.ts';
import { adminAuth } from './admin/auth.ts';
import { registerImportRoutes } from './admin/imports.ts';
import { registerRunRoutes } from './admin/runs.ts';
import { registerSourceRoutes } from './admin/sources.ts';
import { consoleApp } from './console/index.ts';
import { registerDocs } from './docs.ts';
import { registerOAuthRoutes } from './oauth.ts';
import { problem } from './problem.ts';

export interface AppDeps {
  orm: Orm;
  config: Config;
  tokens: TokenIssuer;
  /** Seals source secrets (default: from the config; see src/auth/secret-box.ts). */
  box?: SecretBox;
  credential: AdminCredential;
  logger: Logger;
}

export type AppEnv = { Variables: { requestId: string; clientId?: string } };

/** The gateway's HTTP surface: health, the admin API and its OpenAPI document. */
export function createApp({ orm, config, tokens, box, credential, logger }: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({
    // One error envelope for every validation failure, never zod's raw output.
    defaultHook: (result, c) => {
      if (result.success) return;
      const errors = result.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
      return problem(c, 400, 'The request is not valid.', { errors });
    },
  });

  app.use(requestId());
  // Security headers on every response; the gateway serves no third-party content.
  app.use(secureHeaders({ crossOriginResourcePolicy: 'same-origin', contentSecurityPolicy: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'data:'], styleSrc: ["'self'", "'unsafe-inline'"] } }));
  // OneRoster pages run to hundreds of kilobytes of JSON; clients that accept gzip get a tenth of it.
  app.use('/ims/*', compress());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.info('request', {
      requestId: c.get('requestId'), clientId: c.get('clientId'), method: c.req.method, path: c.req.path, status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
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
  registerRostering(app, orm, {
    maxLimit: config.ONEROSTER_MAX_LIMIT, authenticate,
    onError: (error) => logger.error('oneroster request failed', { error }),
  });

  registerEdfi(app, orm, { authenticate, onError: (error) => logger.error('ed-fi request failed', { error }) });

  app.use('/admin/*', adminAuth(credential, authenticate));
  const sourceDeps = { orm, config, logger, connectors, box: box ?? secretBox(config) };
  registerRunRoutes(app, orm);
  registerImportRoutes(app, orm, config, logger);
  registerSourceRoutes(app, sourceDeps);
  app.route('/', consoleApp(sourceDeps) as never);

  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi/admin.json', adminDocument);
  registerDocs(app);

  app.notFound((c) => problem(c, 404, `No route for ${c.req.method} ${c.req.path}.`));
  app.onError((error, c) => {
    logger.error('unhandled error', { requestId: c.get('requestId'), error });
    return problem(c, 500, 'Something went wrong on our side; the request id helps us find it.');
  });
  return app;
}

export const adminDocument = {
  openapi: '3.1.0',
  info: { title: 'Rostergate admin API', version: '0.1.0', description: 'Sync runs and holds, CSV imports and exports; later sources and clients.' },
  security: [{ adminToken: [] }],
};
