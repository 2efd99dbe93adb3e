import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { sql } from 'kysely';
import { auditRecords } from '../../../src/audit.ts';
import { claimChangeVersions } from '../../../src/sync/change-claims.ts';
import { ensureSource } from '../../../src/sync/reconcile.ts';
import { tombstoneRows, writeRecords, type Written } from '../../../src/sync/write.ts';
import { discoveryDocument, GRADEBOOK_DISCOVERY_PATH, gradebookSpecFile, type Discoverable } from './discovery.ts';
import { imsxError } from './errors.ts';
import { checkRecords, fromRest, writables, type GradebookEntity, type Writable } from './gradebook-records.ts';
import { GRADEBOOK_PATH, gradebookOperations } from './gradebook-operations.ts';
import { resources } from './resources.ts';
import { orgScope, registerFallback, registerReads, serviceAuth, type Env, type ServiceOptions } from './routes.ts';

/**
 * The OneRoster 1.2 Gradebook service: the reads (gradebook-operations.ts) and the writes. A PUT
 * creates (201) or replaces (200) one object; POSTs create sets under a class, school or lineItem
 * and answer with the sourcedIds they allocated; a DELETE tombstones (204), so delta consumers see
 * it. Every write is checked whole before anything lands (gradebook-records.ts) and goes through
 * the engine's write path as one unit of work: unchanged content changes nothing.
 */

export interface GradebookOptions extends ServiceOptions {
  maxBodyBytes: number;
}

/** The source API writes are recorded under. */
const API_SOURCE = 'oneroster-gradebook';
/** Objects one POST may create. */
export const MAX_POST_ITEMS = 1000;

type Ctx = Context<Env>;

/** A check that failed: answered with the standard's error and status. */
class Refusal extends Error {
  readonly status: 403 | 404 | 422;
  readonly codeMinor: 'forbidden' | 'unknownobject' | 'invaliddata' | 'deletefailure';
  constructor(status: 403 | 404 | 422, codeMinor: Refusal['codeMinor'], message: string) {
    super(message);
    this.status = status;
    this.codeMinor = codeMinor;
  }
}

const writePaths = [
  ...Object.values(writables).map((w) => `/${w.setKey}/{sourcedId}`),
  '/classes/{classSourcedId}/lineItems', '/schools/{schoolSourcedId}/lineItems', '/lineItems/{lineItemSourcedId}/results',
  '/classes/{classSourcedId}/academicSessions/{academicSessionSourcedId}/results',
];
export const gradebookDiscovery: Discoverable = {
  specFile: gradebookSpecFile, basePath: GRADEBOOK_PATH, paths: [...new Set([...gradebookOperations.map((o) => o.path), ...writePaths])],
};

export function registerGradebook(app: Hono<any>, orm: MikroORM, options: GradebookOptions) {
  const auth = serviceAuth(orm, options);
  let sourceId: Promise<number> | undefined;
  const apiSource = () => (sourceId ??= ensureSource(orm.em.fork(), API_SOURCE, 'api').catch((e) => {
    sourceId = undefined;
    throw e;
  }));
  const limit = bodyLimit({
    maxSize: options.maxBodyBytes,
    onError: (c) => imsxError(c, 413, 'invaliddata', `The request body is larger than ${options.maxBodyBytes} bytes (MAX_BODY_BYTES).`),
  });

  app.get(GRADEBOOK_DISCOVERY_PATH, (c) => c.json(discoveryDocument(new URL(c.req.url).origin, gradebookDiscovery)));
  registerReads(app, orm, options, { basePath: GRADEBOOK_PATH, hrefBase: '/ims/oneroster', operations: gradebookOperations });

  for (const w of Object.values(writables)) {
    app.put(`${GRADEBOOK_PATH}/${w.setKey}/:sourcedId`, auth('gradebookPut'), limit, (c) => guarded(c as Ctx, () => put(c as Ctx, w)));
    app.delete(`${GRADEBOOK_PATH}/${w.setKey}/:sourcedId`, auth('gradebookDelete'), (c) => guarded(c as Ctx, () => remove(c as Ctx, w)));
  }
  app.post(`${GRADEBOOK_PATH}/classes/:classSourcedId/lineItems`, auth('gradebookPost'), limit, (c) =>
    guarded(c as Ctx, () => post(c as Ctx, writables.lineItem, [{ param: 'classSourcedId', field: 'classSourcedId', table: 'class', what: 'class' }])));
  app.post(`${GRADEBOOK_PATH}/schools/:schoolSourcedId/lineItems`, auth('gradebookPost'), limit, (c) =>
    guarded(c as Ctx, () => post(c as Ctx, writables.lineItem, [{ param: 'schoolSourcedId', field: 'schoolSourcedId', table: 'org', what: 'school' }])));
  app.post(`${GRADEBOOK_PATH}/lineItems/:lineItemSourcedId/results`, auth('gradebookPost'), limit, (c) =>
    guarded(c as Ctx, () => post(c as Ctx, writables.result, [{ param: 'lineItemSourcedId', field: 'lineItemSourcedId', table: 'line_item', what: 'lineItem' }])));
  app.post(`${GRADEBOOK_PATH}/classes/:classSourcedId/academicSessions/:academicSessionSourcedId/results`, auth('gradebookPost'), limit, (c) =>
    guarded(c as Ctx, () => post(c as Ctx, writables.result, [
      { param: 'classSourcedId', field: 'classSourcedId', table: 'class', what: 'class' },
      { param: 'academicSessionSourcedId', table: 'academic_session', what: 'academicSession' },
    ])));
  registerFallback(app, GRADEBOOK_PATH, 'gradebook', 'GET; PUT and DELETE on single objects; POST on the set routes');

  async function guarded(c: Ctx, work: () => Promise<Response>): Promise<Response> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof Refusal) return imsxError(c, error.status, error.codeMinor, error.message);
      // A reference removed between the check and the write.
      if ((error as { code?: string }).code === '23503') return imsxError(c, 422, 'invaliddata', 'A referenced record was removed while this write was checked; send it again.');
      options.onError?.(error);
      return imsxError(c, 500, 'internal_server_error', 'Something went wrong on our side.');
    }
  }

  async function bodyOf(c: Ctx): Promise<Record<string, unknown>> {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new Refusal(422, 'invaliddata', 'The body is not JSON.');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Refusal(422, 'invaliddata', 'The body must be a JSON object.');
    return body as Record<string, unknown>;
  }

  /** Checks and writes records as one unit of work; the results in order. */
  async function write(c: Ctx, entity: GradebookEntity, records: Record<string, unknown>[], wheres: string[]): Promise<Written[]> {
    const em = orm.em.fork();
    const { errors, forbidden } = await checkRecords(em, entity, records, wheres, { orgs: c.get('orgScope') });
    if (errors.length) throw new Refusal(forbidden ? 403 : 422, forbidden ? 'forbidden' : 'invaliddata', errors.slice(0, 50).join('; '));
    const source = await apiSource();
    return em.transactional(async (tx) => {
      await claimChangeVersions(tx);
      const out: Written[] = [];
      // Chunks keep each statement's plan small; the transaction keeps the set whole.
      for (let i = 0; i < records.length; i += 100) {
        out.push(...(await writeRecords(tx, source, records.slice(i, i + 100).map((record) => ({ entity, record: record as never })))));
      }
      return out;
    });
  }

  async function put(c: Ctx, w: Writable): Promise<Response> {
    const body = await bodyOf(c);
    if (!(w.key in body)) throw new Refusal(422, 'invaliddata', `The body must be {"${w.key}": {…}}.`);
    const parsed = fromRest(w.entity, body[w.key], w.key, { path: c.req.param('sourcedId') });
    if ('errors' in parsed) throw new Refusal(422, 'invaliddata', parsed.errors.join('; '));
    const [written] = await write(c, w.entity, [parsed.record], [w.key]);
    auditRecords(c, written!.outcome === 'unchanged' ? 0 : 1);
    c.header('ETag', `"${written!.etag}"`);
    return c.body(null, written!.outcome === 'created' ? 201 : 200);
  }

  async function post(c: Ctx, w: Writable, fixed: { param: string; field?: string; table: string; what: string }[]): Promise<Response> {
    const em = orm.em.fork();
    for (const f of fixed) {
      const id = c.req.param(f.param)!;
      const { rows } = await sql`select 1 from ${sql.table(f.table)} where sourced_id = ${id} and status = 'active'`.execute(em.getKysely());
      if (rows.length === 0) throw new Refusal(404, 'unknownobject', `No ${f.what} with sourcedId ${id}.`);
    }
    const body = await bodyOf(c);
    const items = body[w.setKey];
    if (!Array.isArray(items)) throw new Refusal(422, 'invaliddata', `The body must be {"${w.setKey}": [ … ]}.`);
    if (items.length === 0) throw new Refusal(422, 'invaliddata', `${w.setKey} is empty; there is nothing to create.`);
    if (items.length > MAX_POST_ITEMS) throw new Refusal(422, 'invaliddata', `${w.setKey} has ${items.length} items; one request may create at most ${MAX_POST_ITEMS}.`);
    const errors: string[] = [];
    const records: Record<string, unknown>[] = [];
    const pairs: { suppliedSourcedId: string; allocatedSourcedId: string }[] = [];
    const wheres = items.map((_, i) => `${w.setKey}[${i}]`);
    items.forEach((item, i) => {
      // The path's class, school or lineItem is every item's: given, it must agree; left out, it is filled in.
      const filled = item && typeof item === 'object' && !Array.isArray(item) ? { ...(item as Record<string, unknown>) } : item;
      for (const f of fixed) {
        if (!f.field || !filled || typeof filled !== 'object') continue;
        const name = f.field.replace(/SourcedId$/, '');
        const given = (filled as Record<string, { sourcedId?: unknown }>)[name]?.sourcedId;
        if (given !== undefined && given !== c.req.param(f.param)) errors.push(`${wheres[i]}.${name}.sourcedId: is ${String(given)}, but the path names ${c.req.param(f.param)}`);
        else (filled as Record<string, unknown>)[name] = { sourcedId: c.req.param(f.param) };
      }
      const parsed = fromRest(w.entity, filled, wheres[i]!, { allocate: randomUUID });
      if ('errors' in parsed) errors.push(...parsed.errors);
      else {
        records.push(parsed.record);
        pairs.push({ suppliedSourcedId: parsed.supplied ?? '', allocatedSourcedId: parsed.record.sourcedId as string });
      }
    });
    const ids = records.map((r) => r.sourcedId as string);
    const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
    if (repeated) errors.push(`${w.setKey}: sourcedId ${repeated} appears more than once`);
    if (errors.length) throw new Refusal(422, 'invaliddata', errors.slice(0, 50).join('; '));
    const session = c.req.param('academicSessionSourcedId');
    if (session) await checkSession(em, records, wheres, session);
    const written = await write(c, w.entity, records, wheres);
    auditRecords(c, written.filter((x) => x.outcome !== 'unchanged').length);
    return c.json({ sourcedIdPairs: pairs }, 201);
  }

  /** Results posted for an academic session: their lineItems, where they name a session, name this one (or a session within it). */
  async function checkSession(em: EntityManager, records: Record<string, unknown>[], wheres: string[], session: string) {
    const { rows } = await sql<{ id: string }>`select l.sourced_id as id from line_item l
      where l.sourced_id = any(${records.map((r) => r.lineItemSourcedId as string)}::text[])
        and (l.academic_session_sourced_id is not null or l.grading_period_sourced_id is not null)
        and not exists (select 1 from academic_session s where s.sourced_id in (l.academic_session_sourced_id, l.grading_period_sourced_id)
          and (s.sourced_id = ${session} or s.parent_sourced_id = ${session}))`.execute(em.getKysely());
    const outside = new Set(rows.map((r) => r.id));
    const errors = records.flatMap((r, i) => (outside.has(r.lineItemSourcedId as string)
      ? [`${wheres[i]}.lineItem.sourcedId: lineItem ${r.lineItemSourcedId} belongs to another academic session than ${session}`] : []));
    if (errors.length) throw new Refusal(422, 'invaliddata', errors.slice(0, 50).join('; '));
  }

  async function remove(c: Ctx, w: Writable): Promise<Response> {
    const id = c.req.param('sourcedId')!;
    const resource = resources[w.entity];
    const orgs = c.get('orgScope');
    const em = orm.em.fork();
    const scope = orgs ? orgScope(w.entity, sql`${orgs}::text[]`) : undefined;
    const { rows } = await sql<{ visible: boolean }>`select ${scope ?? sql`true`} as visible from ${sql.table(resource.table)} t
      where t.sourced_id = ${id} and t.status = 'active'`.execute(em.getKysely());
    if (!rows[0]) throw new Refusal(404, 'unknownobject', `No active ${w.key} with sourcedId ${id}.`);
    if (!rows[0].visible) throw new Refusal(403, 'forbidden', `This client may not delete ${w.key} ${id}.`);
    await inUse(em, w.entity, id);
    const removed = await em.transactional(async (tx) => {
      let n = await tombstoneRows(tx, w.entity, [id]);
      // A lineItem's results go with it: they mean nothing without it.
      if (w.entity === 'lineItem') {
        const { rows: results } = await sql<{ id: string }>`select sourced_id as id from result where line_item_sourced_id = ${id} and status = 'active'`.execute(tx.getKysely());
        n += await tombstoneRows(tx, 'result', results.map((r) => r.id));
      }
      return n;
    });
    auditRecords(c, removed);
    return c.body(null, 204);
  }

  /** Categories and score scales that active rows still use cannot go (the standard's deletefailure). */
  async function inUse(em: EntityManager, entity: GradebookEntity, id: string) {
    const users = entity === 'category'
      ? sql<{ n: number }>`select count(*)::int as n from line_item where category_sourced_id = ${id} and status = 'active'`
      : entity === 'scoreScale'
        ? sql<{ n: number }>`select (select count(*) from line_item where score_scale_sourced_id = ${id} and status = 'active')::int
            + (select count(*) from result where score_scale_sourced_id = ${id} and status = 'active')::int as n`
        : undefined;
    if (!users) return;
    const { rows } = await users.execute(em.getKysely());
    if (rows[0]!.n > 0) {
      throw new Refusal(422, 'deletefailure', `${entity} ${id} is used by ${rows[0]!.n} active ${entity === 'category' ? 'lineItems' : 'lineItems or results'}; delete or change those first.`);
    }
  }
}
