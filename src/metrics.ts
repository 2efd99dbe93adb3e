import type { MiddlewareHandler } from 'hono';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from 'pg';

/**
 * Prometheus metrics (prom-client), one registry per process, served at /metrics. Labels are
 * low-cardinality by construction: routes are the matched patterns (`/users/:id`), never raw paths,
 * and nothing carries an id of a person.
 */

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'rostergate_process_' });

const httpRequests = new Counter({ name: 'rostergate_http_requests_total', help: 'HTTP requests by route pattern, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
const httpDuration = new Histogram({
  name: 'rostergate_http_request_duration_seconds', help: 'HTTP request latency by route pattern and method', labelNames: ['route', 'method'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry],
});
const syncRuns = new Counter({ name: 'rostergate_sync_runs_total', help: 'Sync runs (imports, connector syncs, API writes in bulk) by source and outcome', labelNames: ['source', 'status'], registers: [registry] });
const syncRows = new Counter({ name: 'rostergate_sync_rows_total', help: 'Rows reconciled by entity and outcome (created, updated, unchanged, tombstoned, rejected)', labelNames: ['entity', 'outcome'], registers: [registry] });
const tokens = new Counter({ name: 'rostergate_oauth_tokens_total', help: 'Token endpoint answers: issued, or refused and why', labelNames: ['outcome'], registers: [registry] });
const rateLimited = new Counter({ name: 'rostergate_rate_limited_total', help: 'Requests refused with 429 by door', labelNames: ['door'], registers: [registry] });
const pools = new Map<string, Pool>();
new Gauge({
  name: 'rostergate_db_pool_connections', help: 'Database pool connections by pool and state (total, idle, waiting)', labelNames: ['pool', 'state'], registers: [registry],
  collect() {
    for (const [name, pool] of pools) {
      this.set({ pool: name, state: 'total' }, pool.totalCount);
      this.set({ pool: name, state: 'idle' }, pool.idleCount);
      this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
    }
  },
});

const caches = new Map<string, { readonly bytes: number; readonly entries: number }>();
new Gauge({
  name: 'rostergate_json_cache', help: 'Served JSON kept in memory, by door: bytes and entries', labelNames: ['door', 'measure'], registers: [registry],
  collect() {
    for (const [door, cache] of caches) {
      this.set({ door, measure: 'bytes' }, cache.bytes);
      this.set({ door, measure: 'entries' }, cache.entries);
    }
  },
});

/** Counts and times every request by the route pattern that matched. */
export function httpMetrics(): MiddlewareHandler {
  return async (c, next) => {
    const end = httpDuration.startTimer();
    await next();
    // Unmatched paths share one label, so a scan cannot blow up the series count.
    const route = c.req.routePath && c.req.routePath !== '/*' ? c.req.routePath : 'unmatched';
    end({ route, method: c.req.method });
    httpRequests.inc({ route, method: c.req.method, status: String(c.res.status) });
  };
}

export const metrics = {
  run(source: string, status: string, counts: Record<string, Record<string, number>>) {
    syncRuns.inc({ source, status });
    for (const [entity, byOutcome] of Object.entries(counts)) {
      for (const [outcome, n] of Object.entries(byOutcome)) if (n > 0) syncRows.inc({ entity, outcome }, n);
    }
  },
  token(outcome: string) {
    tokens.inc({ outcome });
  },
  rateLimited(door: string) {
    rateLimited.inc({ door });
  },
  pool(name: string, pool: Pool) {
    pools.set(name, pool);
  },
  jsonCache(door: string, cache: { readonly bytes: number; readonly entries: number }) {
    caches.set(door, cache);
  },
};
