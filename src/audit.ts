import type { Context, MiddlewareHandler } from 'hono';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from './log.ts';

/**
 * The audit trail (FERPA: who saw which students). Every API request and every admin action is
 * recorded with who made it, the route, the path (ids, never the query string), the status and the
 * number of records it returned or changed (handlers say it with `auditRecords`). Entries are
 * buffered and written in one statement a second, so auditing costs a read nothing noticeable; a
 * crash loses at most that second.
 */

export interface AuditEntry {
  at: Date;
  actorKind: 'client' | 'admin' | 'console' | 'anonymous';
  actor: string | null;
  method: string;
  route: string;
  path: string;
  status: number;
  records: number | null;
  requestId: string | null;
}

/** Records how many records this response returned or changed. */
export function auditRecords(c: Context, n: number) {
  c.set('auditRecords' as never, n as never);
}

export class AuditLog {
  readonly #orm: MikroORM;
  readonly #logger: Logger;
  #pending: AuditEntry[] = [];
  #timer?: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();

  constructor(orm: MikroORM, logger: Logger) {
    this.#orm = orm;
    this.#logger = logger;
  }

  add(entry: AuditEntry) {
    this.#pending.push(entry);
    if (this.#pending.length >= 1000) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), 1000);
      this.#timer.unref();
    }
  }

  /** Writes what is pending (also at shutdown). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return this.#flushing;
    const col = <K extends keyof AuditEntry>(k: K) => batch.map((e) => e[k]);
    this.#flushing = this.#flushing.then(() => sql`insert into audit_event (at, actor_kind, actor, method, route, path, status, records, request_id)
        select * from unnest(${col('at')}::timestamptz[], ${col('actorKind')}::text[], ${col('actor')}::text[], ${col('method')}::text[], ${col('route')}::text[],
          ${col('path')}::text[], ${col('status')}::int[], ${col('records')}::int[], ${col('requestId')}::text[])`
      .execute(this.#orm.em.fork().getKysely())
      .then(() => undefined, (error: unknown) => this.#logger.error('audit write failed', { error, entries: batch.length })));
    return this.#flushing;
  }

  /** Audits every request through the middleware's routes; `actor` says who made it. */
  middleware(actor: (c: Context) => Pick<AuditEntry, 'actorKind' | 'actor'>, only?: (c: Context) => boolean): MiddlewareHandler {
    return async (c, next) => {
      await next();
      if (only && !only(c)) return;
      const records = (c.get('auditRecords' as never) as number | undefined) ?? null;
      this.add({
        at: new Date(), ...actor(c), method: c.req.method, route: c.req.routePath || 'unmatched', path: c.req.path.slice(0, 500),
        status: c.res.status, records, requestId: (c.get('requestId' as never) as string | undefined) ?? null,
      });
    };
  }
}

/** Deletes audit entries older than `days`. */
export async function purgeAudit(orm: MikroORM, days: number): Promise<number> {
  const result = await sql`delete from audit_event where at < now() - make_interval(days => ${days})`.execute(orm.em.fork().getKysely());
  return Number(result.numAffectedRows ?? 0);
}

export interface AuditQuery { actor?: string; route?: string; since?: string; until?: string; limit: number; offset: number }

export async function listAudit(orm: MikroORM, q: AuditQuery) {
  const where = [
    ...(q.actor ? [sql`actor = ${q.actor}`] : []),
    ...(q.route ? [sql`route = ${q.route}`] : []),
    ...(q.since ? [sql`at >= ${q.since}::timestamptz`] : []),
    ...(q.until ? [sql`at < ${q.until}::timestamptz`] : []),
  ];
  const filter = where.length ? sql`where ${sql.join(where, sql` and `)}` : sql``;
  const db = orm.em.fork().getKysely();
  const { rows } = await sql<Record<string, unknown>>`select id::text as id, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at,
      actor_kind as "actorKind", actor, method, route, path, status, records, request_id as "requestId"
    from audit_event ${filter} order by at desc, id desc limit ${q.limit} offset ${q.offset}`.execute(db);
  const { rows: total } = await sql<{ n: number }>`select count(*)::int as n from audit_event ${filter}`.execute(db);
  return { events: rows, total: total[0]!.n };
}
