import type { Context, MiddlewareHandler } from 'hono';
import { compress } from 'hono/compress';

/**
 * Headers added to responses after their handler ran. Hono's `c.header()` at that point rebuilds
 * the response with its body as a stream, which @hono/node-server then writes piece by piece
 * instead of in one go; hono's secureHeaders and compress both do so on every response, and that
 * cost a quarter of the gateway's CPU on a OneRoster page. Here the headers go into the finished
 * response's own header list instead.
 */
function addAfter(c: Context, headers: readonly (readonly [string, string])[]) {
  try {
    for (const [name, value] of headers) c.res.headers.set(name, value);
  } catch {
    // A response with immutable headers (a fetched or redirect Response): hono's way, rebuilding it.
    for (const [name, value] of headers) c.header(name, value);
  }
}

/** Security headers on every response (helmet's set, as hono's secureHeaders sends it); the gateway serves no third-party content. */
const SECURITY: readonly (readonly [string, string])[] = [
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
  ['Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"],
];

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    addAfter(c, SECURITY);
  };
}

/**
 * gzip or deflate for clients that accept it (hono's compress). `Vary: Accept-Encoding` goes on
 * every response here first, so compress itself touches only the responses it compresses.
 */
export function compressed(): MiddlewareHandler {
  const inner = compress();
  return (c, next) => inner(c, async () => {
    await next();
    const vary = c.res.headers.get('vary');
    if (vary !== '*' && !/accept-encoding/i.test(vary ?? '')) addAfter(c, [['Vary', vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding']]);
  });
}
