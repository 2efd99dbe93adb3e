import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Orm } from '../../db/orm.ts';
import { approveRun, rejectRun, RunStateError, SourceBusyError } from '../../sync/reconcile.ts';
import { getRun, listRuns } from '../../sync/runs.ts';
import type { AppEnv } from '../app.ts';
import { problem, problemResponses } from '../problem.ts';
import { reportResponse } from './report.ts';

const counts = z.record(z.string(), z.record(z.string(), z.number()));
export const run = z
  .object({
    id: z.number().int(),
    source: z.string(),
    mode: z.enum(['bulk', 'delta']),
    status: z.enum(['queued', 'running', 'succeeded', 'partial', 'held', 'failed', 'rejected', 'invalid', 'validated']),
    complete: z.boolean(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    counts: counts.nullable(),
    holdReason: z.string().nullable(),
    error: z.string().nullable(),
    checkpoint: z.record(z.string(), z.unknown()).nullable()
      .openapi({ description: 'Where the source\'s next incremental run starts (the Ed-Fi source: {"changeVersion": n}), when this run read everything up to it' }),
    sameAs: z.number().int().nullable()
      .openapi({ description: "The earlier run whose input (a CSV package, byte for byte) this one had again, with the source's rows as that run left them: nothing was read or written" }),
    issues: z.number().int(),
  })
  .openapi('SyncRun');
export const issue = z
  .object({
    entity: z.string(),
    sourcedId: z.string().nullable(),
    field: z.string().nullable(),
    file: z.string().nullable().openapi({ description: 'File the record came from (CSV packages)' }),
    line: z.number().int().nullable().openapi({ description: 'Line in that file; the header is line 1' }),
    severity: z.enum(['error', 'warning']),
    code: z.string(),
    message: z.string(),
  })
  .openapi('SyncIssue');
const runId = z.object({ id: z.coerce.number().int().positive().openapi({ param: { name: 'id', in: 'path' } }) });
const security = [{ adminToken: [] }];

const list = createRoute({
  method: 'get',
  path: '/admin/runs',
  summary: 'Sync runs, newest first',
  security,
  request: {
    query: z.object({
      status: run.shape.status.optional(),
      source: z.string().optional().openapi({ description: 'Only runs of the source with this name' }),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      offset: z.coerce.number().int().min(0).default(0),
    }),
  },
  responses: {
    200: { description: 'A page of runs', content: { 'application/json': { schema: z.object({ runs: z.array(run), total: z.number().int() }) } } },
    ...problemResponses(400, 401),
  },
});

const show = createRoute({
  method: 'get',
  path: '/admin/runs/{id}',
  summary: 'One run with its first 100 issues',
  security,
  request: { params: runId },
  responses: {
    200: { description: 'The run', content: { 'application/json': { schema: run.extend({ issueList: z.array(issue) }) } } },
    ...problemResponses(400, 401, 404),
  },
});

const issuesCsv = createRoute({
  method: 'get',
  path: '/admin/runs/{id}/issues.csv',
  summary: "Every issue of a run, as CSV (file, line, entity, sourcedId, field, severity, code, message)",
  security,
  request: { params: runId },
  responses: {
    200: { description: 'The issues', content: { 'text/csv': { schema: z.string() } } },
    ...problemResponses(400, 401, 404),
  },
});

const approve = createRoute({
  method: 'post',
  path: '/admin/runs/{id}/approve',
  summary: 'Apply a held run as it was staged',
  security,
  request: { params: runId },
  responses: {
    200: { description: 'The applied run', content: { 'application/json': { schema: run } } },
    ...problemResponses(400, 401, 404, 409),
  },
});

const reject = createRoute({
  method: 'post',
  path: '/admin/runs/{id}/reject',
  summary: 'Discard a held run',
  security,
  request: { params: runId },
  responses: { 204: { description: 'Discarded' }, ...problemResponses(400, 401, 404, 409) },
});

export function registerRunRoutes(app: OpenAPIHono<AppEnv>, orm: Orm) {
  app.openapi(list, async (c) => c.json((await listRuns(orm, c.req.valid('query'))) as never, 200));

  app.openapi(issuesCsv, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await getRun(orm, id, 0))) return problem(c, 404, `Run ${id} does not exist.`);
    return reportResponse(orm, id, `run-${id}-issues.csv`);
  });

  app.openapi(show, async (c) => {
    const found = await getRun(orm, c.req.valid('param').id);
    return found ? c.json(found as never, 200) : problem(c, 404, `Run ${c.req.valid('param').id} does not exist.`);
  });

  app.openapi(approve, (c) =>
    onRunState(c, async (id) => {
      await approveRun(orm, id);
      return c.json((await getRun(orm, id, 0)) as never, 200);
    }),
  );

  app.openapi(reject, (c) =>
    onRunState(c, async (id) => {
      await rejectRun(orm, id);
      return c.body(null, 204);
    }),
  );
}

/** Runs an action on the run in the path; a missing run is 404, one in the wrong state or busy 409. */
async function onRunState<R>(c: Context<AppEnv, string, { out: { param: { id: number } } }>, action: (id: number) => Promise<R>) {
  try {
    return await action(c.req.valid('param').id);
  } catch (error) {
    if (error instanceof RunStateError) return problem(c, error.kind === 'missing' ? 404 : 409, error.message);
    if (error instanceof SourceBusyError) return problem(c, 409, error.message);
    throw error;
  }
}
