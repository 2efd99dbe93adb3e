import { Readable } from 'node:stream';
import type { Orm } from '../../db/orm.ts';
import { issueReport } from '../../sync/runs.ts';

/** A run's issue report as a CSV download, streamed. */
export function reportResponse(orm: Orm, id: number, filename: string) {
  return new Response(Readable.toWeb(Readable.from(issueReport(orm, id), { objectMode: false })) as ReadableStream, {
    headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"` },
  }) as never;
}
