import type { MikroORM } from '@mikro-orm/postgresql';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { auditRecords } from '../../src/audit.ts';
import type { Caller } from '../../src/auth/bearer.ts';
import { orgsBelow } from '../../src/auth/clients.ts';
import { edfiAllows } from '../../src/auth/scopes.ts';
import { PageStarts, setKey } from '../../src/db/page-starts.ts';
import { changeVersion, genericPlans, runLookup, runPrepared } from '../../src/db/prepared.ts';
import { joinJson, ServedJson } from '../../src/http/served-json.ts';
import { claimChangeVersions, settledChangeVersion } from '../../src/sync/change-claims.ts';
import { version } from '../../src/version.ts';
import { ensureSource } from '../../src/sync/reconcile.ts';
import { WriteConflict, type Written } from '../../src/sync/write.ts';
import { servedSpec } from './openapi.ts';
import { ProblemError, problems, sendProblem } from './problems.ts';
import { compare, itemQueries, label, listQuery, MAX_PARTITIONS, normaliseId, pageQueries, pageToken, paramsOf, partitionQuery, resourcePage, stamp, type ListQuery } from './query.ts';
import { Conflict, edfiResources, Invalid, keyString, referenceViews, resourceNamed, storedWhere, Unresolved, type EdfiResource, type Found, type WriteContext } from './resources.ts';
import type { EntityName } from '../../src/sync/records.ts';
import { descriptorsIn, validateBody } from './validate.ts';
import type { View } from './views.ts';

/**
 * The Ed-Fi API door (DS 5.x resources) on Hono, under /data/v3/ed-fi and /data/ed-fi: GET by
 * example with offset/limit/totalCount and change-version windows, GET by id with If-None-Match,
 * POST as upsert by natural key, PUT by id, DELETE by id with If-Match, /deletes and /keyChanges,
 * and the change-query, discovery and dependency documents. Every list, filter and page is SQL.
 */

export interface EdfiOptions {
  authenticate: (header: string | undefined) => Promise<Caller | undefined>;
  onError?: (error: unknown) => void;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
  /** Per-client rate limit: seconds to wait, 0 to go on. */
  rateLimit?: (clientId: string) => number;
  /** Told about the door's own connection pool (metrics). */
  onPool?: (pool: pg.Pool) => void;
  /** Items as served, kept by etag between requests (an etag moves whenever its item does, embedded keys included). */
  memory?: ServedJson;
}

export const EDFI_BASES = ['/data/v3/ed-fi', '/data/ed-fi'];

/** One page of a listing: the JSON array, how many rows it listed, and the `seq` of its first and last. */
interface PageOf {
  total: RawBuilder<{ n: string }>;
  page(em: ReturnType<MikroORM['em']['fork']>): Promise<{ json: string | Buffer<ArrayBuffer>; n: number; first: string | null; last: string | null }>;
}
/** Pages up to this size keep their items in memory (see itemsPage). */
const KEEP_MAX_LIMIT = 100;
const API_SOURCE = 'edfi-api';

async function retryConflicts<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof WriteConflict) || i >= attempts) throw error;
    }
  }
}

/** A date column as pg hands it back (a Date at local midnight) in Ed-Fi's form. */
const dayOf = (value: unknown) =>
  value instanceof Date ? `${value.getFullYear()}-${String(value.getMonth() + 1).padStart(2, '0')}-${String(value.getDate()).padStart(2, '0')}` : value;

/** Entity tags from If-Match / If-None-Match: quoted or not, weak or not, one or a list. */
const tagsOf = (header: string | undefined) => (header ?? '').split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')).filter(Boolean);

interface EdOrgs { sourcedIds: string[]; edfiIds: string[] }

/** Descriptors found to exist are trusted this long without asking again (one that is deleted may pass that long). */
const DESCRIPTOR_TTL_MS = 30_000;

export function registerEdfi(app: Hono<any>, orm: MikroORM, options: EdfiOptions) {
  const knownDescriptors = new Map<string, number>();
  const memory = options.memory;
  // Lookups, pages, single-record reads and writes: their plans do not depend on the values.
  const door = genericPlans(orm, 'write', { onPool: options.onPool, onError: options.onError });
  let sourceId: Promise<number> | undefined;
  const apiSource = () => (sourceId ??= ensureSource(door(), API_SOURCE, 'api').catch((e) => {
    sourceId = undefined;
    throw e;
  }));

  const viewOf = (name: string): View | undefined => resourceNamed(name)?.view ?? referenceViews[name];

  /** Lookups run as prepared statements on the pool: their shapes are few, and planning the views costs as much as running them. */
  async function findOne(em: ReturnType<MikroORM['em']['fork']>, view: View, identity: readonly string[], where: RawBuilder<unknown>[], withDoc = false): Promise<Found | undefined> {
    const columns = ['sourced_id', 'id', 'etag', 'status', ...identity, ...(view.internal ?? []), ...(withDoc ? ['doc'] : [])].map((c) => sql.ref(`v.${c}`));
    const rows = await runLookup(em, sql<Record<string, any>>`select ${sql.join(columns)} from (${view.from}) v where ${sql.join(where, sql` and `)} limit 1`);
    const row = rows[0];
    if (!row) return undefined;
    const keys = Object.fromEntries(identity.map((p) => [p, view.params[p] === 'date' ? dayOf(row[p]) : view.params[p] === 'integer' && row[p] != null ? Number(row[p]) : row[p]]));
    return { sourcedId: row.sourced_id, id: row.id, etag: row.etag, status: row.status, doc: row.doc, keys, roleOrg: row.role_org, roleBegin: dayOf(row.role_begin) as string | null, roleName: row.role_name };
  }

  const contextFor = (em: ReturnType<MikroORM['em']['fork']>, source: number): WriteContext => {
    /** The bound conditions selecting the active item of `resource` with these key values (undefined: a key member is missing). */
    const whereOf = (view: View, key: Record<string, unknown>) => {
      const where = [sql`v.status = 'active'`];
      for (const [k, v] of Object.entries(key)) {
        if (k === 'link') continue;
        const type = view.params[k];
        if (!type || v === undefined || v === null) return undefined;
        where.push(compare(k, type, v));
      }
      return where;
    };
    const find = async (resource: string, key: Record<string, unknown>, withDoc?: boolean) => {
      const view = viewOf(resource)!;
      const where = whereOf(view, key);
      return where && findOne(em, view, resourceNamed(resource)?.identity ?? Object.keys(key), where, withDoc);
    };
    const record = async (entity: EntityName, resource: string, key: Record<string, unknown>) => {
      const view = viewOf(resource)!;
      const where = whereOf(view, key);
      return where && storedWhere(em, entity, sql`(select v.sourced_id from (${view.from}) v where ${sql.join(where, sql` and `)} limit 1)`);
    };
    // Lookups started ahead answer the first ask for them only: a later ask (after the write changed things) looks again.
    const ahead = new Map<string, Promise<unknown>>();
    const taken = <T>(key: string, work: () => Promise<T>): Promise<T> => {
      const pending = ahead.get(key) as Promise<T> | undefined;
      if (!pending) return work();
      ahead.delete(key);
      return pending;
    };
    const start = <T>(key: string, work: () => Promise<T>): Promise<T> => {
      const pending = work();
      // A lookup the write never asks for (a precondition failed first) must not be an unhandled rejection.
      pending.catch(() => undefined);
      ahead.set(key, pending);
      return pending;
    };
    const findKey = (resource: string, key: Record<string, unknown>, withDoc?: boolean) => `f ${resource} ${withDoc ? 1 : 0} ${JSON.stringify(key)}`;
    const recordKey = (entity: string, resource: string, key: Record<string, unknown>) => `r ${entity} ${resource} ${JSON.stringify(key)}`;
    return {
      em,
      sourceId: source,
      find: (resource, key, withDoc) => taken(findKey(resource, key, withDoc), () => find(resource, key, withDoc)),
      record: (entity, resource, key) => taken(recordKey(entity, resource, key), () => record(entity, resource, key)),
      ahead: {
        find: (resource, key, withDoc) => start(findKey(resource, key, withDoc), () => find(resource, key, withDoc)),
        record: (entity, resource, key) => start(recordKey(entity, resource, key), () => record(entity, resource, key)),
      },
    };
  };

  const auth = async (c: Context, next: () => Promise<void>) => {
    const caller = await options.authenticate(c.req.header('authorization'));
    if (!caller) {
      c.header('WWW-Authenticate', 'Bearer realm="ed-fi", error="invalid_token"');
      return sendProblem(c, problems.unauthenticated());
    }
    c.set('caller', caller);
    c.set('clientId', caller.clientId);
    const wait = options.rateLimit?.(caller.clientId) ?? 0;
    if (wait) {
      c.header('Retry-After', String(wait));
      return sendProblem(c, problems.tooManyRequests(wait));
    }
    if (caller.orgs) c.set('edOrgs', await edOrgsOf(caller.orgs));
    await next();
  };

  /** A limited client's orgs and every org below them, as sourcedIds and as Ed-Fi ids. */
  async function edOrgsOf(orgs: string[]): Promise<EdOrgs> {
    const sourcedIds = await orgsBelow(orm, orgs);
    const { rows } = await sql<{ edfi: string }>`select edfi_org_id(identifier, sourced_id)::text as edfi from org
      where sourced_id = any(${sourcedIds}::text[])`.execute(door().getKysely());
    return { sourcedIds, edfiIds: rows.map((r) => r.edfi) };
  }

  /** The rows of a resource a limited client may see (undefined: every row). */
  function scopeOf(c: Context, resource: EdfiResource): RawBuilder<unknown> | undefined {
    const orgs = c.get('edOrgs') as EdOrgs | undefined;
    if (!orgs || !resource.edOrg) return undefined;
    if (resource.edOrg === 'person') {
      return sql`exists (select 1 from user_role r where r.user_sourced_id = v.sourced_id and r.org_sourced_id = any(${orgs.sourcedIds}::text[]))`;
    }
    return sql`${sql.ref(`v.${resource.edOrg}`)} = any(${orgs.edfiIds}::bigint[])`;
  }

  /** A limited client writes only within its education organizations (people are created freely, as Ed-Fi's claim sets allow). */
  function checkWriteScope(c: Context, resource: EdfiResource, key: Record<string, unknown>) {
    const orgs = c.get('edOrgs') as EdOrgs | undefined;
    if (!orgs || !resource.edOrg || resource.edOrg === 'person') return;
    const edOrg = key[resource.edOrg];
    if (!orgs.edfiIds.includes(String(edOrg))) {
      throw new ProblemError({ ...problems.forbidden('write', resource.name), type: 'urn:ed-fi:api:security:authorization:access-denied:resource',
        errors: [`The caller is not authorized to write items of education organization ${edOrg}.`] });
    }
  }

  const handle = (work: (c: Context) => Promise<Response>) => async (c: Context) => {
    try {
      return await work(c);
    } catch (error) {
      if (error instanceof ProblemError) return sendProblem(c, error.problem);
      if (error instanceof Unresolved) {
        const paths = Object.fromEntries(error.items.map((i) => [i.path, [`The referenced '${i.resource}' item does not exist.`]]));
        return sendProblem(c, problems.unresolved(error.items.map((i) => `The referenced '${i.resource}' item does not exist.`), paths));
      }
      if (error instanceof Invalid) {
        return sendProblem(c, problems.validation({ [error.path]: [error.message] }));
      }
      if (error instanceof Conflict) return sendProblem(c, problems.dependent(error.message));
      if ((error as { code?: string }).code === '23505') return sendProblem(c, problems.nonUnique('A natural key conflicts with an existing item.'));
      options.onError?.(error);
      return sendProblem(c, problems.internal());
    }
  };

  const resourceFor = (c: Context, write: boolean): EdfiResource => {
    const resource = resourceNamed(c.req.param('resource') ?? '');
    if (!resource) throw new ProblemError(problems.notFound());
    const caller = c.get('caller') as Caller;
    if (!edfiAllows(caller.scopes, resource.name, write)) {
      throw new ProblemError(problems.forbidden(write ? 'write' : 'read', resource.name));
    }
    return resource;
  };

  async function byId(em: ReturnType<MikroORM['em']['fork']>, resource: EdfiResource, raw: string, activeOnly = true): Promise<Found | undefined> {
    const id = normaliseId(raw);
    if (!id) throw new ProblemError(problems.validation({ '$.id': [`The value '${raw}' is not valid for Id.`] }));
    return findOne(em, resource.view, resource.identity, [sql`v.id = ${id}::uuid`, ...(activeOnly ? [sql`v.status = 'active'`] : [])]);
  }

  async function readBody(c: Context): Promise<Record<string, unknown>> {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/(.+\+)?json\b/i.test(type)) throw new ProblemError(problems.unsupportedMediaType());
    const text = await c.req.text();
    if (!text.trim()) throw new ProblemError(problems.badRequest('A non-empty request body is required.'));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ProblemError(problems.badRequest('The request data was constructed incorrectly.'));
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ProblemError(problems.badRequest('The request body must be a JSON object (one item).'));
    return body as Record<string, unknown>;
  }

  /** Validates the body and its descriptors: every problem of the body in one 400. */
  async function checked(em: ReturnType<MikroORM['em']['fork']>, resource: EdfiResource, body: Record<string, unknown>) {
    const result = validateBody(resource.schema, body);
    const errors = result.ok ? {} : { ...result.errors };
    const doc = result.ok ? result.doc : body;
    const descriptors = descriptorsIn(doc);
    const now = Date.now();
    const wanted = [...new Set(descriptors.map(([, v]) => v.trim().toLowerCase()))].filter((d) => !((knownDescriptors.get(d) ?? 0) > now));
    if (wanted.length) {
      const rows = await runLookup(em, sql<{ k: string }>`select natural_key as k from edfi_document
        where natural_key = any(${wanted}::text[]) and status = 'active' and resource like '%Descriptors'`);
      if (knownDescriptors.size > 10_000) knownDescriptors.clear();
      for (const r of rows) knownDescriptors.set(r.k, now + DESCRIPTOR_TTL_MS);
      for (const [path, value] of descriptors) {
        if ((knownDescriptors.get(value.trim().toLowerCase()) ?? 0) > now) continue;
        const name = label(path.split('.').at(-1)!).replace(/^(Entry|Exit|Birth|Next|Primary)/, '');
        (errors[path] ??= []).push(`${name} value '${value}' does not exist.`);
      }
    }
    if (Object.keys(errors).length) throw new ProblemError(problems.validation(errors));
    return doc;
  }

  /** A write that changed nothing answers with the item's etag as read: it may be newer than the row's own (a key it embeds changed). */
  const answered = <W extends { outcome: string; etag: string }>(written: W, existing: Found | undefined): W =>
    (written.outcome === 'unchanged' && existing ? { ...written, etag: existing.etag } : written);

  function preconditions(c: Context, existing: Found | undefined) {
    const ifMatch = tagsOf(c.req.header('if-match'));
    if (ifMatch.length && !(existing && (ifMatch.includes('*') || ifMatch.includes(existing.etag)))) throw new ProblemError(problems.lockFailed());
    if (c.req.method !== 'DELETE' && tagsOf(c.req.header('if-none-match')).includes('*') && existing) throw new ProblemError(problems.lockFailed());
  }

  const locationBase = (c: Context, resource: EdfiResource) => {
    const path = c.req.path;
    const base = EDFI_BASES.find((b) => path.toLowerCase().startsWith(b)) ?? EDFI_BASES[0]!;
    return `${new URL(c.req.url).origin}${base}/${resource.name}`;
  };

  const limiter = bodyLimit({
    maxSize: options.maxBodyBytes ?? 1024 * 1024,
    onError: (c) => sendProblem(c, problems.tooLarge(options.maxBodyBytes ?? 1024 * 1024)),
  });

  for (const base of EDFI_BASES) {
    app.use(`${base}/*`, auth);

    app.get(`${base}/:resource/deletes`, handle(async (c) => {
      const resource = resourceFor(c, false);
      const q = listQuery(new URL(c.req.url));
      const keyValues = sql.raw(`jsonb_build_object(${resource.identity.map((k) => `'${k}', v."${k}"`).join(', ')})`);
      // Tombstoned rows, and the items that left none (recorded in edfi_deleted when deleted through this door).
      const edOrg = resource.edOrg && resource.edOrg !== 'person' ? sql.ref(resource.edOrg) : undefined;
      const edOrgOf = (expr: RawBuilder<unknown>) => (edOrg ? sql`, ${expr} as ${edOrg}` : sql``);
      const from = sql`select v.sourced_id, v.id, v.cv, v.cv as seq, v.status, jsonb_build_object('id', v.id, 'changeVersion', v.cv, 'keyValues', ${keyValues}) as doc
          ${edOrgOf(edOrg ? sql`v.${edOrg}` : sql``)}
        from (${resource.view.from}) v where v.status = 'tobedeleted'
        union all
        select null::text, d.id, d.change_version, d.change_version, 'tobedeleted', jsonb_build_object('id', d.id, 'changeVersion', d.change_version, 'keyValues', d.key_values)
          ${edOrgOf(sql`(d.key_values->>${resource.edOrg ?? ''})::bigint`)}
        from edfi_deleted d where d.resource = ${resource.name}`;
      const scope = scopeOf(c, resource);
      return respondPage(c, q, (q) => rendered(pageQueries(q, { from, params: {} }, sql`v.doc`, [...q.where, ...(scope ? [scope] : [])], sql`v.cv`, sql`v.seq`)), false);
    }));

    app.get(`${base}/:resource/keyChanges`, handle(async (c) => {
      const resource = resourceFor(c, false);
      const q = listQuery(new URL(c.req.url));
      const from = sql`select k.change_version as cv, k.change_version as seq, k.id, k.old_key_values, k.new_key_values from edfi_key_change k where k.resource = ${resource.name}`;
      return respondPage(c, q, (q) => rendered(pageQueries(q, { from, params: {} }, sql`jsonb_build_object('id', v.id, 'changeVersion', v.cv, 'oldKeyValues', v.old_key_values, 'newKeyValues', v.new_key_values)`, q.where, sql`v.cv`, sql`v.cv`)), false);
    }));

    app.get(`${base}/:resource/partitions`, handle(async (c) => {
      const resource = resourceFor(c, false);
      const url = new URL(c.req.url);
      const name = [...url.searchParams.keys()].find((k) => k.toLowerCase() === 'number');
      const raw = name === undefined ? '' : url.searchParams.get(name)!;
      const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(n >= 1 && n <= MAX_PARTITIONS)) throw new ProblemError(problems.parameters({}, `Number must be a value between 1 and ${MAX_PARTITIONS}.`));
      url.searchParams.delete(name!);
      const rows = await runPrepared(door(), partitionQuery(resource, url, scopeOf(c, resource), n));
      return c.json({ pageTokens: rows.map((r, i) => pageToken(i === 0 ? null : rows[i - 1]!.up_to, r.up_to)) });
    }));

    app.get(`${base}/:resource`, handle(async (c) => {
      const resource = resourceFor(c, false);
      const q = listQuery(new URL(c.req.url), paramsOf(resource, resource.view));
      const scope = scopeOf(c, resource);
      // Clients that walk a whole collection (cursors, the largest pages) read each item once: kept items would only cost them.
      const walk = q.cursor || q.limit > KEEP_MAX_LIMIT;
      return respondPage(c, q, (q) => (walk ? rendered(resourcePage(resource, q, scope)) : itemsPage(resource, q, scope)), true);
    }));

    app.get(`${base}/:resource/:id`, handle(async (c) => {
      const resource = resourceFor(c, false);
      const em = door();
      const id = normaliseId(c.req.param('id')!);
      if (!id) throw new ProblemError(problems.validation({ '$.id': [`The value '${c.req.param('id')}' is not valid for Id.`] }));
      const scope = scopeOf(c, resource);
      const rows = await runPrepared(em, sql<{ item: string; etag: string; allowed: boolean }>`select (v.doc || ${stamp('v')})::text as item, v.etag,
          ${scope ?? sql`true`} as allowed
        from (${resource.view.from}) v where v.id = ${id}::uuid and v.status = 'active' limit 1`);
      const row = rows[0];
      if (!row) throw new ProblemError(problems.notFound());
      if (!row.allowed) throw new ProblemError(problems.forbidden('read', resource.name));
      c.header('ETag', `"${row.etag}"`);
      if (tagsOf(c.req.header('if-none-match')).some((t) => t === row.etag || t === '*')) return c.body(null, 304);
      auditRecords(c, 1);
      return c.body(row.item, 200, { 'content-type': 'application/json' });
    }));

    const post = handle(async (c) => {
      const resource = resourceFor(c, true);
      const body = await readBody(c);
      if (Object.keys(body).some((k) => k.toLowerCase() === 'id')) {
        throw new ProblemError(problems.validation({ '$.id': ["Resource identifiers cannot be assigned by the client. The 'id' property should not be included in the request body."] }));
      }
      const source = await apiSource();
      const em = door();
      const doc = await checked(em, resource, body);
      checkWriteScope(c, resource, resource.keyOf(doc));
      if (resource.identity.includes('codeValue')) knownDescriptors.clear();
      // One statement per write, no transaction: a row changed between read and write is read again.
      const written = await retryConflicts(async () => {
        const ctx = contextFor(em, source);
        resource.prefetch?.(ctx.ahead, doc);
        const existing = await ctx.find(resource.name, resource.keyOf(doc));
        preconditions(c, existing);
        return answered(await resource.write(ctx, doc, existing), existing);
      });
      c.header('Location', `${locationBase(c, resource)}/${written.edfiId}`);
      c.header('ETag', `"${written.etag}"`);
      auditRecords(c, 1);
      return c.body(null, written.outcome === 'created' ? 201 : 200);
    });
    app.post(`${base}/:resource`, limiter, post);
    app.post(`${base}/:resource/`, limiter, post);

    app.put(`${base}/:resource/:id`, limiter, handle(async (c) => {
      const resource = resourceFor(c, true);
      const body = await readBody(c);
      const source = await apiSource();
      const written = await retryConflicts(() => door().transactional(async (tx) => {
        const existing = await byId(tx, resource, c.req.param('id')!);
        if (!existing) throw new ProblemError(problems.notFound());
        const bodyId = Object.entries(body).find(([k]) => k.toLowerCase() === 'id')?.[1];
        if (bodyId !== undefined && normaliseId(String(bodyId)) !== existing.id) {
          throw new ProblemError(problems.validation({ '$.id': ['The identifier in the request body must match the identifier in the URL.'] }));
        }
        preconditions(c, existing);
        const doc = await checked(tx, resource, body);
        const newKey = resource.keyOf(doc);
        checkWriteScope(c, resource, existing.keys);
        checkWriteScope(c, resource, newKey);
        const changed = keyString(newKey) !== keyString(existing.keys as Record<string, unknown>);
        if (changed && !resource.keyUpdatable) throw new ProblemError(problems.keyChange(resource.title));
        const ctx = contextFor(tx, source);
        if (changed && (await ctx.find(resource.name, newKey))) throw new ProblemError(problems.nonUnique(`A '${resource.title}' item with these identifying values already exists.`));
        const result = await resource.write(ctx, doc, existing);
        if (changed) {
          await sql`insert into edfi_key_change (change_version, resource, id, old_key_values, new_key_values)
            values (${result.changeVersion}, ${resource.name}, ${existing.id}::uuid, ${JSON.stringify(existing.keys)}::jsonb, ${JSON.stringify(newKey)}::jsonb)`.execute(tx.getKysely());
        }
        return answered(result, existing);
      }));
      c.header('Location', `${locationBase(c, resource)}/${written.edfiId}`);
      c.header('ETag', `"${written.etag}"`);
      return c.body(null, 204);
    }));

    app.delete(`${base}/:resource/:id`, handle(async (c) => {
      const resource = resourceFor(c, true);
      const source = await apiSource();
      if (resource.identity.includes('codeValue')) knownDescriptors.clear();
      await retryConflicts(() => door().transactional(async (tx) => {
        await claimChangeVersions(tx);
        const existing = await byId(tx, resource, c.req.param('id')!);
        if (!existing) throw new ProblemError(problems.notFound());
        checkWriteScope(c, resource, existing.keys);
        preconditions(c, existing);
        if (resource.dependents) {
          const { rows } = await sql<{ d: string | null }>`select ${resource.dependents(existing)} as d`.execute(tx.getKysely());
          if (rows[0]?.d) throw new Conflict(rows[0].d);
        }
        await resource.remove(contextFor(tx, source), existing);
        // An item that was a child row leaves no tombstone: /deletes needs a record of it.
        const { rows: left } = await sql`select 1 from (${resource.view.from}) v where v.id = ${existing.id}::uuid`.execute(tx.getKysely());
        if (left.length === 0) {
          await sql`insert into edfi_deleted (change_version, resource, id, key_values)
            values (nextval('change_version_seq'), ${resource.name}, ${existing.id}::uuid, ${JSON.stringify(existing.keys)}::jsonb)`.execute(tx.getKysely());
        }
      }));
      return c.body(null, 204);
    }));

    app.post(`${base}/:resource/:id`, (c) => sendProblem(c, problems.methodNotAllowed('Resource items can only be updated using PUT. To "upsert" an item in the resource collection using POST, remove the "id" from the route.')));
    app.on(['PUT', 'DELETE'], `${base}/:resource`, (c) => sendProblem(c, problems.methodNotAllowed(`${c.req.method} requests are only supported on resource items, not on collections.`)));
    app.on(['PATCH', 'OPTIONS', 'HEAD'], [`${base}/:resource`, `${base}/:resource/:id`], (c) => sendProblem(c, problems.methodNotAllowed(`${c.req.method} is not supported.`)));
  }

  const starts = new PageStarts();

  /** A page built by one statement (pageQueries). */
  const rendered = (queries: ReturnType<typeof pageQueries>): PageOf => ({
    total: queries.total,
    async page(em) {
      const { items, n, first, last } = (await runPrepared(em, queries.page))[0]!;
      return { json: items, n, first, last };
    },
  });

  /**
   * A page of a resource collection: its rows (keys, ids, etags) first, then only the items not
   * already held by etag, built for those rows alone. A row gone between the two is left out.
   */
  function itemsPage(resource: EdfiResource, q: ListQuery, scope: RawBuilder<unknown> | undefined): PageOf {
    const queries = itemQueries(resource, q, scope);
    const keyOf = (id: string, etag: string) => ServedJson.key(resource.name, 'ed-fi', id, etag);
    return {
      total: queries.total,
      async page(em) {
        const rows = await runPrepared(em, queries.rows);
        const parts = rows.map((r) => memory?.get(keyOf(r.id, r.etag)));
        const missing = rows.filter((_, i) => !parts[i]);
        if (missing.length) {
          const built = new Map((await runPrepared(em, queries.items(missing.map((r) => r.seq)))).map((b) => [b.id, b]));
          rows.forEach((r, i) => {
            const b = built.get(r.id);
            if (parts[i] || !b) return;
            parts[i] = Buffer.from(b.item);
            memory?.set(keyOf(r.id, b.etag), parts[i]);
          });
        }
        const items = parts.filter((p) => p !== undefined);
        return { json: joinJson('[', items, ']'), n: rows.length, first: rows[0]?.seq ?? null, last: rows.at(-1)?.seq ?? null };
      },
    };
  }

  /**
   * Answers a list GET with a page of `q` as `build` makes it, its Total-Count and, where the order
   * allows, Next-Page-Token. Offset pages start from where a page of the same set was seen to begin
   * when one was (PageStarts), instead of walking past every item before them.
   */
  async function respondPage(c: Context, q: ListQuery, build: (q: ListQuery) => PageOf, cursorable: boolean) {
    if (q.cursor && !cursorable) throw new ProblemError(problems.parameters({}, 'Cursor paging (pageToken, pageSize) is available on resource collections only.'));
    const em = door();
    const plain = build(q);
    const offsetPaged = !q.cursor && q.limit > 0;
    const set = offsetPaged ? setKey(em.getKysely(), plain.total) : '';
    const version = offsetPaged ? await changeVersion(em) : '';
    const start = offsetPaged && q.offset > 0 ? starts.find(set, version, q.offset) : undefined;
    const queries = start ? build({ ...q, offset: 0, ...(start.after ? { after: start.id } : { startAt: start.id }) }) : plain;
    // Query-by-example shapes are few (which parameters are present), so lists run prepared too.
    const [{ json, n, first, last }, counted] = await Promise.all([queries.page(em), q.totalCount ? runPrepared(em, queries.total) : undefined]);
    if (offsetPaged && first && last) starts.remember(set, version, { offset: q.offset, limit: q.limit, count: n, first, last, fromStart: start !== undefined });
    if (counted) c.header('Total-Count', String(counted[0]!.n));
    // A full page in `seq` order may have more after it (ODS/API 7.3 and DMS cursor paging).
    if (cursorable && n === q.limit && last && last !== q.upTo) c.header('Next-Page-Token', pageToken(last, q.upTo));
    auditRecords(c, n);
    return c.body(json, 200, { 'content-type': 'application/json' });
  }

  app.use('/changeQueries/*', auth);
  app.get('/changeQueries/v1/availableChangeVersions', async (c) => {
    // Up to the newest version every transaction before it has settled (src/sync/change-claims.ts).
    const { rows } = await settledChangeVersion().execute(door().getKysely());
    return c.json({ oldestChangeVersion: 0, newestChangeVersion: Number(rows[0]!.v) });
  });

  app.get('/', (c) => c.json(discovery(new URL(c.req.url).origin)));
  app.get('/openapi/edfi.json', (c) => c.json(servedSpec()));
  app.get('/metadata', (c) => c.json([{ name: 'Resources', endpointUri: `${new URL(c.req.url).origin}/openapi/edfi.json`, prefix: '' }]));
  app.get('/metadata/data/v3/dependencies', (c) =>
    c.json([...edfiResources].sort((a, b) => a.order - b.order || a.name.localeCompare(b.name)).map((r) => ({
      resource: `/ed-fi/${r.name}`, order: r.order, operations: ['Create', 'Update'],
    }))));
}

export function discovery(origin: string) {
  return {
    version,
    informationalVersion: `Rostergate ${version}`,
    suite: '3',
    build: version,
    apiMode: 'Shared Instance',
    dataModels: [{ name: 'Ed-Fi', version: '5.0.0', informationalVersion: 'Ed-Fi Data Standard 5.0 resources over the Rostergate shared schema' }],
    urls: {
      dependencies: `${origin}/metadata/data/v3/dependencies`,
      openApiMetadata: `${origin}/metadata`,
      oauth: `${origin}/oauth/token`,
      dataManagementApi: `${origin}/data/v3/`,
      changeQueries: `${origin}/changeQueries/v1/`,
    },
  };
}
