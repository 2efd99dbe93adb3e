import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import busboy from 'busboy';
import type { Context } from 'hono';
import { exportZip } from '../../../standards/oneroster/csv/export.ts';
import { importPackage } from '../../../standards/oneroster/csv/import.ts';
import { packageLimits, type Config } from '../../config/config.ts';
import type { Orm } from '../../db/orm.ts';
import type { Logger } from '../../log.ts';
import { SourceBusyError } from '../../sync/reconcile.ts';
import { getRun } from '../../sync/runs.ts';
import { whenRunStarts } from './background.ts';
import { reportResponse } from './report.ts';
import type { AppEnv } from '../app.ts';
import { problem, problemResponses } from '../problem.ts';
import { issue, run } from './runs.ts';

/**
 * CSV packages over HTTP. An upload (a zip as the body, or the `file` part of a multipart form)
 * is streamed to disk under a size limit, then imported in the background; the answer is the
 * import's id at once (it is the id of the sync run doing it), and GET /admin/imports/{id} shows
 * its status, counts and report. GET /admin/exports streams a package out.
 */

const security = [{ adminToken: [] }];
const importView = run.extend({ issueList: z.array(issue) }).openapi('Import');

export function registerImportRoutes(app: OpenAPIHono<AppEnv>, orm: Orm, config: Config, logger: Logger) {
  const uploads = join(config.DATA_DIR, 'imports');

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/admin/imports',
    summary: 'Upload a OneRoster CSV package (zip) and import it, all or nothing',
    description: `The zip is the request body (application/zip), or the \`file\` part of a multipart form. At most ${config.IMPORT_MAX_UPLOAD_BYTES} bytes.`,
    security,
    request: {
      query: z.object({
        source: z.string().optional().openapi({ description: "Source name (default: the manifest's source.systemCode, else csv)" }),
        dryRun: z.enum(['true', 'false']).optional().openapi({ description: 'Validate only; write nothing' }),
      }),
      body: {
        required: true,
        content: {
          'application/zip': { schema: z.string().openapi({ format: 'binary' }) },
          'multipart/form-data': { schema: z.object({ file: z.string().openapi({ format: 'binary' }) }) },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted; the import runs in the background',
        headers: { Location: { schema: { type: 'string' }, description: 'The import' } },
        content: { 'application/json': { schema: z.object({ id: z.number().int(), status: z.literal('running'), href: z.string() }) } },
      },
      ...problemResponses(400, 401, 409, 413, 415),
    },
  });
  // Not app.openapi(): its body validation would buffer the whole upload in memory.
  app.post('/admin/imports', async (c) => {
    const dryRun = c.req.query('dryRun');
    if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false') return problem(c, 400, 'dryRun must be true or false.');
    await mkdir(uploads, { recursive: true, mode: 0o700 });
    const path = join(uploads, `${randomBytes(12).toString('hex')}.zip`);
    const received = await receive(c, path, config.IMPORT_MAX_UPLOAD_BYTES);
    if (received !== 'ok') {
      await rm(path, { force: true });
      return received === 'too_large'
        ? problem(c, 413, `The upload is larger than ${config.IMPORT_MAX_UPLOAD_BYTES} bytes (IMPORT_MAX_UPLOAD_BYTES).`)
        : received === 'no_file'
          ? problem(c, 400, 'The multipart form has no part named file.')
          : problem(c, 415, 'Send the zip as the body (Content-Type: application/zip) or as the file part of a multipart/form-data form.');
    }
    const outcome = await whenRunStarts(
      (onRun) => importPackage(orm, path, {
        source: c.req.query('source') || undefined,
        dryRun: dryRun === 'true',
        holdShare: config.SYNC_HOLD_SHARE,
        batchSize: config.SYNC_BATCH_SIZE,
        limits: packageLimits(config),
        onRun,
      })
        .then((summary) => logger.info('import finished', { runId: summary.runId, status: summary.status, issues: summary.issues }))
        .finally(() => rm(path, { force: true })),
      (runId, error) => logger.error('import failed', { runId, error }),
    );
    if ('runId' in outcome) {
      c.header('Location', `/admin/imports/${outcome.runId}`);
      return c.json({ id: outcome.runId, status: 'running' as const, href: `/admin/imports/${outcome.runId}` }, 202);
    }
    // An import always makes a run, so it can only have failed before it started.
    const error = 'error' in outcome ? outcome.error : new Error('the import ended without a run');
    if (error instanceof SourceBusyError) return problem(c, 409, error.message);
    throw error;
  });

  app.openapi(
    {
      method: 'get',
      path: '/admin/imports/{id}',
      summary: 'An import: status, counts per entity and the validation report',
      description: 'JSON with the first 1000 issues; `format=csv` (or Accept: text/csv) downloads every issue as CSV.',
      security,
      request: {
        params: z.object({ id: z.coerce.number().int().positive().openapi({ param: { name: 'id', in: 'path' } }) }),
        query: z.object({ format: z.enum(['json', 'csv']).optional() }),
      },
      responses: {
        200: {
          description: 'The import',
          content: { 'application/json': { schema: importView }, 'text/csv': { schema: z.string().openapi({ description: 'file,line,entity,sourcedId,field,severity,code,message' }) } },
        },
        ...problemResponses(400, 401, 404),
      },
    },
    async (c) => {
      const { id } = c.req.valid('param');
      const view = await getRun(orm, id, 1000);
      if (!view) return problem(c, 404, `Import ${id} does not exist.`);
      const csv = c.req.valid('query').format === 'csv' || (!c.req.valid('query').format && c.req.header('accept')?.includes('text/csv'));
      if (!csv) return c.json(view as never, 200);
      return reportResponse(orm, id, `import-${id}-report.csv`);
    },
  );

  app.openapi(
    {
      method: 'get',
      path: '/admin/exports',
      summary: 'Download the shared schema as a OneRoster 1.2 CSV package (zip)',
      description: 'Without since every file is bulk; with since every file is delta (changes after that instant, tombstones included).',
      security,
      request: { query: z.object({ since: z.iso.datetime({ offset: true }).optional().openapi({ example: '2024-09-01T00:00:00.000Z' }) }) },
      responses: {
        200: { description: 'The package', content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } } },
        ...problemResponses(400, 401),
      },
    },
    (c) => {
      const since = c.req.valid('query').since;
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return new Response(Readable.toWeb(exportZip(orm, { since: since ? new Date(since) : undefined })) as ReadableStream, {
        headers: { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="oneroster-${since ? 'delta' : 'bulk'}-${stamp}.zip"` },
      }) as never;
    },
  );
}

/** Streams the upload to `path`, stopping at `limit` bytes; a multipart form's other fields go to `fields`. */
export async function receive(c: Context, path: string, limit: number, fields: Record<string, string> = {}): Promise<'ok' | 'too_large' | 'no_file' | 'unsupported'> {
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  const body = c.req.raw.body;
  if (!body) return 'unsupported';
  const length = Number(c.req.header('content-length'));
  if (Number.isFinite(length) && length > limit) return 'too_large';
  const input = Readable.fromWeb(body as WebReadableStream);
  try {
    if (type === 'application/zip' || type === 'application/x-zip-compressed' || type === 'application/octet-stream') {
      await pipeline(input, capped(limit), createWriteStream(path));
      return 'ok';
    }
    if (type === 'multipart/form-data') return await fromMultipart(c, input, path, limit, fields);
    input.destroy();
    return 'unsupported';
  } catch (error) {
    if (error instanceof TooLarge) return 'too_large';
    throw error;
  }
}

class TooLarge extends Error {}

function capped(limit: number) {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(seen > limit ? new TooLarge() : null, chunk);
    },
  });
}

function fromMultipart(c: Context, input: Readable, path: string, limit: number, fields: Record<string, string>): Promise<'ok' | 'no_file'> {
  return new Promise((resolve, reject) => {
    const form = busboy({ headers: { 'content-type': c.req.header('content-type')! }, limits: { fileSize: limit, files: 1, fields: 20, fieldSize: 4096 } });
    form.on('field', (name, value) => (fields[name] = value));
    let saving: Promise<void> | undefined;
    form.on('file', (name, stream) => {
      if (name !== 'file' || saving) {
        stream.resume();
        return;
      }
      stream.on('limit', () => stream.destroy(new TooLarge()));
      saving = pipeline(stream, createWriteStream(path));
    });
    form.on('close', () => (saving ? saving.then(() => resolve('ok'), reject) : resolve('no_file')));
    form.on('error', reject);
    input.on('error', reject);
    input.pipe(form);
  });
}
