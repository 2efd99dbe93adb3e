import { z, createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteSource, getSource, listSources, saveSource, SourceError, testSource, type SourceDeps } from '../../sync/sources.ts';
import type { AppEnv } from '../app.ts';
import { problem, problemResponses } from '../problem.ts';
import { runNow } from './background.ts';

/** /admin/sources: register, change, test and run the sources the gateway syncs. Secrets go in, never out. */

const security = [{ adminToken: [] }];
const source = z
  .object({
    id: z.number().int(),
    name: z.string(),
    kind: z.string(),
    settings: z.record(z.string(), z.unknown()).openapi({ description: 'Settings without the secret ones' }),
    secretsSet: z.array(z.string()).openapi({ description: 'Secret settings that have a value; values are never returned' }),
    schedule: z.string().nullable(),
    timezone: z.string(),
    enabled: z.boolean(),
    state: z.enum(['ok', 'reauthorize']).openapi({ description: 'reauthorize: the source refused its credentials; scheduled runs wait until they are replaced or a manual run gets through' }),
    stateReason: z.string().nullable(),
    nextRuns: z.array(z.string()),
    lastRun: z.object({ id: z.number().int(), status: z.string(), startedAt: z.string(), finishedAt: z.string().nullable() }).nullable(),
  })
  .openapi('Source');
const input = z
  .object({
    name: z.string().min(1).max(100),
    kind: z.string().min(1),
    settings: z.record(z.string(), z.unknown()).default({}).openapi({ description: 'Every setting, secrets included; on update a secret left out keeps its value' }),
    schedule: z.string().nullable().optional().openapi({ description: "Cron expression, e.g. '0 */6 * * *'; null: only on demand" }),
    timezone: z.string().optional().openapi({ example: 'America/Chicago' }),
    enabled: z.boolean().optional(),
  })
  .openapi('SourceInput');
const params = z.object({ id: z.coerce.number().int().positive().openapi({ param: { name: 'id', in: 'path' } }) });
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

/** A source error as Problem Details: unknown 404, name taken 409, bad settings 400. */
function refused(c: Context, error: unknown) {
  if (error instanceof SourceError) return problem(c, error.kind === 'missing' ? 404 : error.kind === 'conflict' ? 409 : 400, error.message);
  throw error;
}

export function registerSourceRoutes(app: OpenAPIHono<AppEnv>, deps: SourceDeps) {
  app.openapi(
    createRoute({ method: 'get', path: '/admin/sources', summary: 'Sources, with schedule, next runs and last run', security,
      responses: { 200: { description: 'Sources', ...json(z.object({ sources: z.array(source) })) }, ...problemResponses(401) } }),
    async (c) => c.json({ sources: await listSources(deps) } as never, 200),
  );
  app.openapi(
    createRoute({ method: 'post', path: '/admin/sources', summary: 'Register a source', security,
      request: { body: { required: true, ...json(input) } },
      responses: { 201: { description: 'Registered', ...json(source) }, ...problemResponses(400, 401, 409) } }),
    async (c) => {
      try {
        return c.json((await saveSource(deps, c.req.valid('json'))) as never, 201);
      } catch (error) {
        return refused(c, error);
      }
    },
  );
  app.openapi(
    createRoute({ method: 'get', path: '/admin/sources/{id}', summary: 'One source', security, request: { params },
      responses: { 200: { description: 'The source', ...json(source) }, ...problemResponses(400, 401, 404) } }),
    async (c) => {
      const found = await getSource(deps, c.req.valid('param').id);
      return found ? c.json(found as never, 200) : problem(c, 404, `Source ${c.req.valid('param').id} does not exist.`);
    },
  );
  app.openapi(
    createRoute({ method: 'put', path: '/admin/sources/{id}', summary: 'Change a source (schedule, settings, enabled)', security,
      request: { params, body: { required: true, ...json(input) } },
      responses: { 200: { description: 'Changed', ...json(source) }, ...problemResponses(400, 401, 404, 409) } }),
    async (c) => {
      try {
        return c.json((await saveSource(deps, c.req.valid('json'), c.req.valid('param').id)) as never, 200);
      } catch (error) {
        return refused(c, error);
      }
    },
  );
  app.openapi(
    createRoute({ method: 'delete', path: '/admin/sources/{id}', summary: 'Delete a source and its run history (only one that owns no rows)', security,
      request: { params }, responses: { 204: { description: 'Deleted' }, ...problemResponses(400, 401, 404, 409) } }),
    async (c) => {
      try {
        await deleteSource(deps, c.req.valid('param').id);
        return c.body(null, 204);
      } catch (error) {
        return refused(c, error);
      }
    },
  );
  app.openapi(
    createRoute({ method: 'post', path: '/admin/sources/{id}/test', summary: 'Test the connection with the stored settings', security, request: { params },
      responses: { 200: { description: 'It works', ...json(z.object({ ok: z.literal(true), detail: z.string() })) }, ...problemResponses(400, 401, 404, 502) } }),
    async (c) => {
      try {
        return c.json({ ok: true as const, detail: await testSource(deps, c.req.valid('param').id) }, 200);
      } catch (error) {
        if (error instanceof SourceError) return refused(c, error);
        return problem(c, 502, `The connection test failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  );
  app.openapi(
    createRoute({ method: 'post', path: '/admin/sources/{id}/run', summary: 'Sync a source now; answers once the run exists', security, request: { params },
      responses: {
        202: { description: 'Started, or queued to start when the run under way ends', ...json(z.object({
          runId: z.number().int(), href: z.string(),
          queued: z.boolean().openapi({ description: 'The source was running: this run waits (status queued) and starts when that run ends' }),
        })) },
        200: { description: 'Nothing to do', ...json(z.object({ runId: z.null(), detail: z.string() })) },
        ...problemResponses(400, 401, 404, 409),
      } }),
    async (c) => {
      const id = c.req.valid('param').id;
      const outcome = await runNow(deps, id, (runId, error) => deps.logger.error('manual run failed', { runId, error }));
      if ('runId' in outcome) return c.json({ runId: outcome.runId, href: `/admin/runs/${outcome.runId}`, queued: outcome.queued }, 202);
      if ('finished' in outcome) return c.json({ runId: null, detail: 'the connector found nothing new' }, 200);
      return refused(c, outcome.error);
    },
  );
}
