import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Shutdown } from '../lifecycle.ts';
import type { Logger } from '../log.ts';

/** Serves the app; the server closes first on shutdown, letting in-flight requests finish. */
export async function startServer(app: Hono<any>, options: { port: number; host: string }, shutdown: Shutdown, logger: Logger) {
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, () => resolve(s));
    s.once('error', reject);
  });
  shutdown.add('http', () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections would otherwise hold the close open.
    (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
  }));
  logger.info('listening', { url: `http://${options.host === '0.0.0.0' ? 'localhost' : options.host}:${options.port}` });
  return server;
}
