import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { sql, type RawBuilder } from 'kysely';
import type { Caller } from '../../../src/auth/bearer.ts';
import { auditRecords } from '../../../src/audit.ts';
import { orgsBelow } from '../../../src/auth/clients.ts';
import { scopes } from '../../../src/auth/scopes.ts';
import { discoveryDocument, DISCOVERY_PATH, officialSpecFile, type Discoverable } from './discovery.ts';
import { imsxError, RequestError, statusInfo } from './errors.ts';
import { BASE_PATH, operations, type Access, type Operation } from './operations.ts';
import { PageStarts } from '../../../src/db/page-starts.ts';
import { envelope, getOne, listPage, type Selection, type Served } from './query.ts';
import { resources, type ResourceName } from './resources.ts';
import type { ServedJson } from '../../../src/http/served-json.ts';

/**
 * The OneRoster 1.2 services on Hono (rostering here, gradebook in gradebook-routes.ts): every GET
 * operation, behind a bearer token with the right scope. Collections answer with the standard's envelope, `X-Total-Count`
 * (the filtered total) and an RFC 8288 `Link` header with absolute first/prev/next/last URLs.
 */

export interface ServiceOptions {
  maxLimit: number;
  /** A unit of work for one read request (`genericPlans`: its page statements keep their plans). */
  reads: () => EntityManager;
  /** Served JSON kept in memory between requests. */
  memory: ServedJson;
  /** Resolves the caller from the Authorization header (undefined: no valid token). */
  authenticate: (header: string | undefined) => Promise<Caller | undefined>;
  /** Failures that do not fail the request (filling the JSON cache). */
  onError?: (error: unknown) => void;
  /** Per-client rate limit: seconds to wait, 0 to go on. */
  rateLimit?: (clientId: string) => number;
}
export type Env = { Variables: { caller: Caller; orgScope?: string[]; clientId?: string } };

const allows: Record<Access, string[]> = {
  core: [scopes.roster, scopes.rosterCore],
  roster: [scopes.roster],
  demographics: [scopes.rosterDemographics],
  gradebookCore: [scopes.gradebook, scopes.gradebookCore],
  gradebook: [scopes.gradebook],
  gradebookPut: [scopes.gradebookPut],
  gradebookPost: [scopes.gradebookPost],
  gradebookDelete: [scopes.gradebookDelete],
};

/** Rows a client limited to some orgs may see, per resource (sessions and categories are not tied to an org). */
export function orgScope(resource: ResourceName, orgs: RawBuilder<unknown>): RawBuilder<unknown> | undefined {
  switch (resource) {
    case 'org': return sql`t.sourced_id = any(${orgs})`;
    case 'course': return sql`t.org_sourced_id = any(${orgs})`;
    case 'class':
    case 'enrollment':
    case 'lineItem': return sql`t.school_sourced_id = any(${orgs})`;
    case 'user': return sql`exists (select 1 from user_role r where r.user_sourced_id = t.sourced_id and r.org_sourced_id = any(${orgs}))`;
    case 'demographics': return sql`exists (select 1 from user_role r where r.user_sourced_id = t.sourced_id and r.org_sourced_id = any(${orgs}))`;
    case 'result': return sql`exists (select 1 from line_item l where l.sourced_id = t.line_item_sourced_id and l.school_sourced_id = any(${orgs}))`;
    case 'scoreScale': return sql`(t.org_sourced_id = any(${orgs}) or exists (select 1 from class k where k.sourced_id = t.class_sourced_id and k.school_sourced_id = any(${orgs})))`;
    case 'academicSession':
    case 'category': return undefined;
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

/** Bearer-token middleware of a OneRoster service: the caller must hold one of the scopes of `access`. */
export function serviceAuth(orm: MikroORM, options: ServiceOptions) {
  return (access: Access): MiddlewareHandler<Env> => async (c, next) => {
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
}

export interface ReadService {
  /** `/ims/oneroster/rostering/v1p2` */
  basePath: string;
  /** What GUIDRef hrefs are built on, after the origin (the service's base path, or `/ims/oneroster` when refs cross services). */
  hrefBase: string;
  operations: Operation[];
}

/** The GET operations of a OneRoster service: collections with filter/sort/paging/fields, and single objects. */
export function registerReads(app: Hono<any>, orm: MikroORM, options: ServiceOptions, service: ReadService) {
  const auth = serviceAuth(orm, options);
  const served: Served = { memory: options.memory, starts: new PageStarts(), onError: options.onError };
  for (const operation of service.operations) {
    const path = service.basePath + operation.path.replace(/\{(\w+)\}/g, ':$1');
    app.get(path, auth(operation.access), (c) => handle(c as unknown as Context<Env>, operation));
  }

  async function handle(c: Context<Env>, operation: Operation) {
    try {
      const resource = resources[operation.resource];
      const orgs = c.get('orgScope');
      const params = c.req.param() as Record<string, string>;
      const sel: Selection = {
        resource,
        where: operation.where(params),
        within: operation.within?.(params),
        scope: orgs ? orgScope(operation.resource, sql`${orgs}::text[]`) : undefined,
        base: new URL(c.req.url).origin + service.hrefBase,
        fields: fieldsOf(c),
      };
      const em = options.reads();
      if (operation.kind === 'object') {
        const { item, unknownFields } = await getOne(em, sel, params.sourcedId!, served);
        if (!item) return imsxError(c, 404, 'unknownobject', `No ${operation.key} with sourcedId ${params.sourcedId}.`);
        warnUnknown(c, unknownFields);
        auditRecords(c, 1);
        return c.body(Buffer.concat([Buffer.from(`{"${operation.key}":`), item, Buffer.from('}')]), 200, { 'content-type': 'application/json' });
      }
      const missing = await missingParent(em, operation, params);
      if (missing) return imsxError(c, 404, 'unknownobject', missing);
      const requested = intParam(c, 'limit', 100, 1);
      const limit = Math.min(requested, options.maxLimit);
      const offset = intParam(c, 'offset', 0, 0);
      const orderBy = single(c, 'orderBy');
      if (orderBy !== undefined && orderBy !== 'asc' && orderBy !== 'desc') throw new RequestError('invaliddata', 'orderBy must be asc or desc');
      const page = await listPage(em, sel, { filter: single(c, 'filter'), sort: single(c, 'sort'), orderBy, limit, offset }, served);
      warnUnknown(c, page.unknownFields);
      c.header('X-Total-Count', String(page.total));
      c.header('Link', linkHeader(c, limit, offset, page.total));
      if (limit < requested) c.header('X-Limit-Applied', String(limit));
      auditRecords(c, Math.max(0, Math.min(limit, page.total - offset)));
      return c.body(envelope(operation.key, page.items), 200, { 'content-type': 'application/json' });
    } catch (error) {
      if (error instanceof RequestError) return imsxError(c, 400, error.codeMinor, error.message);
      options.onError?.(error);
      return imsxError(c, 500, 'internal_server_error', 'Something went wrong on our side.');
    }
  }
}

/** A nested collection whose parent does not exist answers 404 (the standard's "unknown" error), not an empty list. */
async function missingParent(em: EntityManager, operation: Operation, params: Record<string, string>): Promise<string | undefined> {
  for (const parent of operation.parents ?? []) {
    const id = params[parent.param]!;
    const { rows } = await sql`select 1 from ${sql.table(parent.table)} where sourced_id = ${id}`.execute(em.getKysely({ type: 'read' }));
    if (rows.length === 0) return `No ${parent.what} with sourcedId ${id}.`;
  }
  return undefined;
}

/** Answers the service's paths that do not exist, and methods it does not take. */
export function registerFallback(app: Hono<any>, basePath: string, name: string, methods: string) {
  app.all(`${basePath}/*`, (c) =>
    c.req.method === 'GET'
      ? imsxError(c, 404, 'unknownobject', `The OneRoster 1.2 ${name} service has no ${new URL(c.req.url).pathname.slice(basePath.length)}.`)
      : imsxError(c, 405, 'unknownobject', `The ${name} service does not take ${c.req.method} here (${methods}).`));
}

export const rosteringDiscovery: Discoverable = { specFile: officialSpecFile, basePath: BASE_PATH, paths: operations.map((o) => o.path) };

export function registerRostering(app: Hono<any>, orm: MikroORM, options: ServiceOptions) {
  app.get(DISCOVERY_PATH, (c) => c.json(discoveryDocument(new URL(c.req.url).origin, rosteringDiscovery)));
  registerReads(app, orm, options, { basePath: BASE_PATH, hrefBase: BASE_PATH, operations });
  // Paths the service does not have (1.2 has no /classes/{id}/enrollments, say) and other methods.
  registerFallback(app, BASE_PATH, 'rostering', 'it is read-only: GET only');
}

/** Unknown `fields` are not an error (the spec answers 200 with every field and a warning). */
function warnUnknown(c: Context, unknown: string[]) {
  if (unknown.length) c.header('X-OneRoster-Warning', JSON.stringify(statusInfo('invalid_selection_field', `unknown fields ignored: ${unknown.join(', ')}`, 'warning')));
}
