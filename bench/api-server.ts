import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { credentialFromToken } from '../src/auth/admin-token.ts';
import { TokenIssuer } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config/config.ts';
import { openOrm } from '../src/db/orm.ts';
import { createApp } from '../src/http/app.ts';
import { createLogger } from '../src/log.ts';

/**
 * One server of the API benchmark, in a process of its own so the load generator does not share
 * its event loop: `gateway` is the real app; `baseline` is node:http + pg answering each known
 * path with the very SQL the gateway compiled for it, and nothing else (no auth, no parsing).
 * argv: mode, database URL, port, signing key | compiled-queries file.
 */
const [mode, url, port, extra] = process.argv.slice(2) as [string, string, string, string];
// Exit on SIGINT so --cpu-prof can write its profile.
process.on('SIGINT', () => process.exit(0));

if (mode === 'gateway') {
  const orm = await openOrm(url);
  const app = createApp({
    // The benchmark measures the gateway's own capacity for one client: no per-client rate limit (audit and metrics stay on).
    orm, config: loadConfig({ DATA_DIR: './data/bench/api-server', RATE_LIMIT_PER_SECOND: '0' }), tokens: new TokenIssuer(extra, 3600),
    credential: credentialFromToken('b'.repeat(40)), logger: createLogger('silent'),
  });
  serve({ fetch: app.fetch, port: Number(port), hostname: '127.0.0.1' }, () => process.send?.('ready'));
} else {
  // OneRoster entries wrap rows in the standard's envelope; Ed-Fi entries (`items`) answer with the page the SQL built.
  const queries = JSON.parse(readFileSync(extra, 'utf8')) as Record<string, { key?: string; items?: boolean; page: { sql: string; parameters: unknown[] }; total: { sql: string; parameters: unknown[] } }>;
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  createServer(async (req, res) => {
    const q = queries[req.url!];
    if (!q) {
      res.writeHead(404).end();
      return;
    }
    if (q.items) {
      // Prepared, as the gateway runs it.
      const page = await pool.query({ name: `b_${createHash('sha1').update(q.page.sql).digest('hex').slice(0, 24)}`, text: q.page.sql, values: q.page.parameters });
      res.writeHead(200, { 'content-type': 'application/json' }).end(page.rows[0].items);
      return;
    }
    const [page, total] = await Promise.all([pool.query(q.page.sql, q.page.parameters), pool.query(q.total.sql, q.total.parameters)]);
    const body = `{"${q.key}":[${page.rows.map((r: { j: string }) => r.j).join(',')}]}`;
    res.writeHead(200, { 'content-type': 'application/json', 'x-total-count': String(total.rows[0].n) }).end(body);
  }).listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
}
