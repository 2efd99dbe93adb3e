import type { MikroORM } from '@mikro-orm/postgresql';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { sql, type RawBuilder } from 'kysely';
import type { Caller } from '../../../src/auth/bearer.ts';
import { auditRecords } from '../../../src/audit.ts';
import { orgsBelow } from '../../../src/auth/clients.ts';
import { scopes } from '../../../src/auth/scopes.ts';
import { discoveryDocument, DISCOVERY_PATH } from './discovery.ts';
import { imsxError, RequestError, statusInfo } from './errors.ts';
import { BASE_PATH, operations, type Access, type Operation } from './operations.ts';
import { getOne, listPage, type Selection } from './query.ts';
import { resources, type ResourceName } from './resources.ts';

/**
 * The OneRoster 1.2 Rostering service on Hono: every operation of operations.ts, behind a bearer
 * token with the right scope. Collections answer with the standard's envelope, `X-Total-Count`
 * (the filtered total) and an RFC 8288 `Link` header with absolute first/prev/next/last URLs.
 */

export interface RosteringOptions {
  maxLimit: number;
  /** Resolves the caller from the Authorization header (undefined: no valid token). */
  authenticate: (header: string | undefined) => Promise<Caller | undefined>;
  /** Failures that do not fail the request (filling the JSON cache). */
  onError?: (error: unknown) => void;
  /** Per-client rate limit: seconds to wait, 0 to go on. */
  rateLimit?: (clientId: string) => number;
}

type Env = { Variables: { caller: Caller; orgScope?: string[]; clientId?: string } };

const allows: Record<Access, string[]> = {
  core: [scopes.roster, scopes.rosterCore],
  roster: [scopes.roster],
  demographics: [scopes.rosterDemographics],
};

/** Rows a client limited to some orgs may see, per resource (sessions are not tied to an org). */
function orgScope(resource: ResourceName, orgs: RawBuilder<unknown>): RawBuilder<unknown> | undefined {
  switch (resource) {
    case 'org': return sql`t.sourced_id = any(${orgs})`;
    case 'course': return sql`t.org_sourced_id = any(${orgs})`;
    case 'class':
    case 'enrollment': return sql`t.school_sourced_id = any(${orgs})`;
    case 'user': return sql`exists (select 1 from user_role r where r.user_sourced_id = t.sourced_id and r.org_sourced_id = any(${orgs}))`;
    case 'demographics': return sql`exists (select 1 from user_role r where r.user_sourced_id = t.sourced_id and r.org_sourced_id = any(${orgs}))`;
    case 'academicSession': return undefined;
  }
}

/** One integer query parameter: absent → default; repeated, not an integer or out of range → 400. */
function intParam(c: Context, name: string, fallback: number, min: number): number {
  const values = c.req.queries(name) ?? [];
  if (values.length === 0) return fallback;
  if (values.length > 1 || !/^\d+$/.test(values[0]!) || Number(values[0]) < min) {
    throw new RequestError('invaliddata', `${name} must be a single whole number of at least ${min}`);
  }
  return Number(values[0]);
}

function single(c: Context, name: string): string | undefined {
  const values = c.req.queries(name) ?? [];
  if (values.length > 1) throw new RequestError('invaliddata', `${name} may be given once`);
  return values[0];
}

/** `fields=a,b` and `fields=a&fields=b` alike. */
const fieldsOf = (c: Context) => (c.req.queries('fields') ?? []).flatMap((f) => f.split(',')).map((f) => f.trim()).filter(Boolean);

function linkHeader(c: Context, limit: number, offset: number, total: number): string {
  const url = new URL(c.req.url);
  const at = (o: number) => {
    url.searchParams.set('limit', String(limit));
    url.searchParams.set('offset', String(o));
    return url.toString();
  };
  const last = total === 0 ? 0 : Math.floor((total - 1) / limit) * limit;
  const links = [`<${at(0)}>; rel="first"`];
  if (offset > 0) links.push(`<${at(Math.max(0, Math.min(offset - limit, last)))}>; rel="prev"`);
  if (offset + limit < total) links.push(`<${at(offset + limit)}>; rel="next"`);
  links.push(`<${at(last)}>; rel="last"`);
  return links.join(', ');
}

export function registerRostering(app: Hono<any>, orm: MikroORM, options: RosteringOptions) {
  const auth = (access: Access): MiddlewareHandler<Env> => async (c, next) => {
    const caller = await options.authenticate(c.req.header('authorization'));
    if (!caller) {
      c.header('WWW-Authenticate', 'Bearer realm="oneroster", error="invalid_token"');
      return imsxError(c, 401, 'unauthorisedrequest', 'A valid bearer access token is required (POST /oauth/token, client credentials).');
    }
    if (!allows[access].some((s) => caller.scopes.has(s))) {
      c.header('WWW-Authenticate', `Bearer realm="oneroster", error="insufficient_scope", scope="${allows[access].join(' ')}"`);
      return imsxError(c, 403, 'forbidden', `This operation needs the scope ${allows[access].join(' or ')}.`);
    }
    c.set('caller', caller);
    // The request log names who read what (the gateway's access log is its first audit trail).
    c.set('clientId', caller.clientId);
    const wait = options.rateLimit?.(caller.clientId) ?? 0;
    if (wait) {
      c.header('Retry-After', String(wait));
      return imsxError(c, 429, 'server_busy', `Too many requests from this client; retry after ${wait} s.`);
    }
    if (caller.orgs) c.set('orgScope', await orgsBelow(orm, caller.orgs));
    await next();
  };

  app.get(DISCOVERY_PATH, (c) => c.json(discoveryDocument(new URL(c.req.url).origin)));

  for (const operation of operations) {
    const path = BASE_PATH + operation.path.replace(/\{(\w+)\}/g, ':$1');
    app.get(path, auth(operation.access), (c) => handle(c as unknown as Context<Env>, operation));
  }
  // Paths the service does not have (1.2 has no /classes/{id}/enrollments, say) and other methods.
  app.all(`${BASE_PATH}/*`, (c) =>
    c.req.method === 'GET'
      ? imsxError(c, 404, 'unknownobject', `The OneRoster 1.2 rostering service has no ${new URL(c.req.url).pathname.slice(BASE_PATH.length)}.`)
      : imsxError(c, 405, 'unknownobject', 'The rostering service is read-only: GET only.'));

  async function handle(c: Context<Env>, operation: Operation) {
    try {
      const resource = resources[operation.resource];
      const orgs = c.get('orgScope');
      const params = c.req.param() as Record<string, string>;
      const sel: Selection = {
        resource,
        where: operation.where(params),
        scope: orgs ? orgScope(operation.resource, sql`${orgs}::text[]`) : undefined,
        base: new URL(c.req.url).origin + BASE_PATH,
        fields: fieldsOf(c),
      };
      const em = orm.em.fork();
      if (operation.kind === 'object') {
        const { item, unknownFields } = await getOne(em, sel, params.sourcedId!, options.onError);
        if (!item) return imsxError(c, 404, 'unknownobject', `No ${operation.key} with sourcedId ${params.sourcedId}.`);
        warnUnknown(c, unknownFields);
        auditRecords(c, 1);
        return c.body(`{"${operation.key}":${item}}`, 200, { 'content-type': 'application/json' });
      }
      const requested = intParam(c, 'limit', 100, 1);
      const limit = Math.min(requested, options.maxLimit);
      const offset = intParam(c, 'offset', 0, 0);
      const orderBy = single(c, 'orderBy');
      if (orderBy !== undefined && orderBy !== 'asc' && orderBy !== 'desc') throw new RequestError('invaliddata', 'orderBy must be asc or desc');
      const page = await listPage(em, sel, { filter: single(c, 'filter'), sort: single(c, 'sort'), orderBy, limit, offset }, options.onError);
      warnUnknown(c, page.unknownFields);
      c.header('X-Total-Count', String(page.total));
      c.header('Link', linkHeader(c, limit, offset, page.total));
      if (limit < requested) c.header('X-Limit-Applied', String(limit));
      auditRecords(c, Math.max(0, Math.min(limit, page.total - offset)));
      return c.body(`{"${operation.key}":${page.items}}`, 200, { 'content-type': 'application/json' });
    } catch (error) {
      if (error instanceof RequestError) return imsxError(c, 400, error.codeMinor, error.message);
      options.onError?.(error);
      return imsxError(c, 500, 'internal_server_error', 'Something went wrong on our side.');
    }
  }
}

/** Unknown `fields` are not an error (the spec answers 200 with every field and a warning). */
function warnUnknown(c: Context, unknown: string[]) {
  if (unknown.length) c.header('X-OneRoster-Warning', JSON.stringify(statusInfo('invalid_selection_field', `unknown fields ignored: ${unknown.join(', ')}`, 'warning')));
}
