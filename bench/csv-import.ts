import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { csvRows, fileSources, headerLine, manifestText } from '../standards/oneroster/csv/export.ts';
import { files, headerOf } from '../standards/oneroster/csv/files.ts';
import type { RunSummary } from '../src/sync/reconcile.ts';
import { generateDistrict, type Scale } from './generate.ts';
import { markdownTable, measure, type Measured } from './measure.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * Import of the synthetic district as a OneRoster CSV package (a folder) into an empty database,
 * then again unchanged, against the baseline of raw COPY (FORMAT csv) of the same files into
 * unindexed tables of text columns on the same server in the same run.
 */
export async function csvImportBench({ orm, scale, workDir }: BenchContext): Promise<string> {
  const dir = join(workDir, 'package');
  const written = await writeCsvPackage(scale, dir);
  const db = orm.em.fork().getKysely();
  for (const f of written) {
    await sql`create table ${sql.table(`csv_${f.name}`)} (${sql.raw(f.header.map((c) => `"${c}" text`).join(', '))})`.execute(db);
  }
  const copy = await measure('raw COPY of the CSV files into unindexed tables', async () => {
    for (const f of written) await sql`copy ${sql.table(`csv_${f.name}`)} from ${sql.lit(f.path)} with (format csv, header true)`.execute(db);
    return { rows: written.reduce((n, f) => n + f.rows, 0) };
  });

  // Each import in a process of its own (bench/import-child.ts, with this process's node flags): its peak RSS is its own.
  const run = (label: string) =>
    measure(label, async () => {
      const child = fork(new URL('./import-child.ts', import.meta.url), [orm.config.get('clientUrl')!, dir], { stdio: 'inherit' });
      const exited = once(child, 'exit');
      const result = await new Promise<{ summary: RunSummary; seconds: number; peakRssMb: number }>((resolve, reject) => {
        child.once('message', resolve as (message: unknown) => void);
        child.once('exit', (code) => reject(new Error(`the import process exited with ${code} before it reported`)));
      });
      await exited;
      const { summary } = result;
      console.log('  phases (ms):', summary.phases, 'peak RSS (MB):', Math.round(result.peakRssMb));
      if (summary.status !== 'succeeded' || summary.issues > 0) throw new Error(`import ended ${summary.status} with ${summary.issues} issues`);
      return { rows: copy.rows, summary, seconds: result.seconds, peakRssMb: result.peakRssMb };
    });
  const first = await run('CSV import, empty database');
  const again = await run('CSV import, unchanged re-import (the same package)');
  if (again.detail!.summary.sameAs === undefined) throw new Error('the same package was read again');
  // The same records in other bytes (the manifest's lines ended by LF, not the export's CRLF): every record is read and compared.
  const manifest = join(dir, 'manifest.csv');
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/\r\n/g, '\n'));
  const reread = await run('CSV import, unchanged records in other bytes');
  if (reread.detail!.summary.sameAs !== undefined) throw new Error('a package in other bytes was taken for the same');
  const writes = [again, reread].map((m) => rowsWritten(m.detail!.summary));
  if (writes.some((n) => n !== 0)) throw new Error(`unchanged re-imports wrote ${writes.join(' and ')} rows`);

  const steps: Measured[] = [copy, first, again, reread];
  return markdownTable(`OneRoster CSV import, ${scale} scale`, steps, copy, [
    `Package: ${written.map((f) => `${f.name}.csv ${f.rows.toLocaleString('en')}`).join(', ')} rows (a folder; the manifest says bulk).`,
    'The same package again is not read: its fingerprint and the source\'s rows are those the first import left (src/sync/unchanged-input.ts).',
    'Unchanged records in other bytes are read, checked and compared record by record (the path of any changed package).',
    `Unchanged re-imports wrote ${writes.join(' and ')} rows (created + updated + tombstoned).`,
    'Each import runs in a process of its own (bench/import-child.ts, with the node flags of `npm run bench`); its peak RSS is that process\'s high-water mark. COPY\'s is the bench process\'s, package writing included.',
    'Targets: first import ≤ 3× COPY, unchanged re-import ≤ 1.5× COPY, peak RSS ≤ 400 MB at large scale.',
  ]);
}

const rowsWritten = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);

/** The generated district as a bulk OneRoster 1.2 package, written with the export's own row format. */
export async function writeCsvPackage(scale: Scale, dir: string) {
  mkdirSync(dir, { recursive: true });
  await chmod(dir, 0o755);
  writeFileSync(join(dir, 'manifest.csv'), manifestText('bulk'), { mode: 0o644 });
  const outputs = new Map(
    fileSources.map((s) => {
      const path = join(dir, files[s.name].fileName);
      const out = createWriteStream(path, { mode: 0o644 });
      out.write(headerLine(s, []));
      return [s.name, { source: s, out, path, rows: 0 }];
    }),
  );
  for (const batch of generateDistrict({ scale })) {
    for (const o of outputs.values()) {
      if (o.source.entity !== batch.entity) continue;
      let text = '';
      for (const record of batch.records) {
        const stored = { record: record as Record<string, unknown>, status: 'active' as const, dateLastModified: '', sourceId: 0, contentHash: '' };
        o.rows += o.source.rows(stored).length;
        text += csvRows(o.source, stored, [], false);
      }
      if (!o.out.write(text)) await once(o.out, 'drain');
    }
  }
  await Promise.all([...outputs.values()].map((o) => new Promise((resolve) => o.out.end(resolve))));
  return [...outputs.values()].map((o) => ({ name: o.source.name, path: o.path, rows: o.rows, header: headerOf(files[o.source.name]) }));
}
