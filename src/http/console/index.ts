import { Hono } from 'hono';
import type { SourceDeps } from '../../sync/sources.ts';
import { css, js } from './assets.ts';
import { registerClients } from './clients.ts';
import { registerDashboard } from './dashboard.ts';
import { registerRuns } from './runs.ts';
import { registerSignIn, registerSignOut, requireAdmin, type ConsoleEnv } from './session.ts';
import { registerSources } from './sources.ts';

/** The admin console at /console: server-rendered pages over the same modules the admin API and CLI use. */
export function consoleApp(deps: SourceDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const asset = (body: string, type: string) => () => new Response(body, { headers: { 'content-type': type, 'cache-control': 'public, max-age=300' } });
  app.get('/console/assets/console.css', asset(css, 'text/css; charset=utf-8'));
  app.get('/console/assets/console.js', asset(js, 'text/javascript; charset=utf-8'));
  const trustProxy = deps.config.TRUST_PROXY;
  registerSignIn(app, deps.orm, trustProxy);
  const admin = requireAdmin(deps.orm, trustProxy);
  app.use('/console/*', async (c, next) => (c.req.path === '/console/login' || c.req.path.startsWith('/console/assets/') ? next() : admin(c, next)));
  app.use('/console', admin);
  registerSignOut(app, deps.orm);
  registerDashboard(app, deps);
  registerRuns(app, deps);
  registerSources(app, deps);
  registerClients(app, deps.orm, deps.logger);
  return app;
}
