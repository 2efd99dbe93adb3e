import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { exportToDirectory, exportZip } from '../../standards/oneroster/csv/export.ts';
import { importPackage } from '../../standards/oneroster/csv/import.ts';
import { packageLimits, type Config } from '../config/config.ts';
import type { Orm } from '../db/orm.ts';
import type { RunSummary } from '../sync/reconcile.ts';
import { getRun } from '../sync/runs.ts';

/** The CLI's CSV doors: `import` with a progress line and a summary table, and `export`. */

export async function importCommand(orm: Orm, config: Config, path: string, options: { source?: string; dryRun: boolean }) {
  const progress = progressLine();
  const summary = await importPackage(orm, path, {
    source: options.source,
    dryRun: options.dryRun,
    holdShare: config.SYNC_HOLD_SHARE,
    batchSize: config.SYNC_BATCH_SIZE,
    limits: packageLimits(config),
    onProgress: progress.update,
  });
  progress.done();
  process.stdout.write(await report(orm, summary));
  return summary;
}

export async function exportCommand(orm: Orm, target: string, since?: string) {
  const when = since === undefined ? undefined : new Date(since);
  if (when && Number.isNaN(when.getTime())) throw new Error(`--since must be a date-time such as 2024-09-01T00:00:00.000Z; got ${JSON.stringify(since)}`);
  if (target.endsWith('.zip')) await pipeline(exportZip(orm, { since: when }), createWriteStream(target));
  else await exportToDirectory(orm, target, { since: when });
  process.stdout.write(`Wrote a OneRoster 1.2 ${when ? `delta package (changes since ${when.toISOString()})` : 'bulk package'} to ${target}\n`);
}

/** One line per file on stderr: rows read and the rate, rewritten in place on a terminal. */
function progressLine() {
  const tty = process.stderr.isTTY;
  const started = new Map<string, number>();
  let last = { file: '', rows: 0 };
  const line = (file: string, rows: number) => {
    const seconds = (performance.now() - started.get(file)!) / 1000;
    return `${file.padEnd(22)} ${rows.toLocaleString('en-US').padStart(11)} rows  ${Math.round(rows / Math.max(seconds, 0.001)).toLocaleString('en-US').padStart(9)} rows/s`;
  };
  const finish = () => {
    if (last.file) process.stderr.write(`${tty ? '\r' : ''}${line(last.file, last.rows)}\n`);
  };
  return {
    update: ({ file, rows }: { file: string; rows: number }) => {
      if (file !== last.file) {
        finish();
        started.set(file, performance.now());
      }
      last = { file, rows };
      if (tty) process.stderr.write(`\r${line(file, rows)}`);
    },
    done: finish,
  };
}

/** A run's outcome for a terminal: the verdict, counts per entity and the first issues. */
export async function report(orm: Orm, summary: RunSummary) {
  const columns = ['created', 'updated', 'unchanged', 'tombstoned', 'rejected'] as const;
  const rows = Object.entries(summary.counts).filter(([, c]) => columns.some((k) => c[k] > 0));
  const table = [
    `| entity | ${columns.join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...rows.map(([entity, c]) => `| ${entity} | ${columns.map((k) => c[k].toLocaleString('en-US')).join(' | ')} |`),
  ].join('\n');
  const verdict: Record<string, string> = {
    succeeded: summary.sameAs ? `Nothing to do: the same package as run ${summary.sameAs}, and the source's records are as it left them.` : 'Imported.',
    validated: 'Valid: a dry run, nothing was written.',
    invalid: 'Not imported: the package has errors, nothing was written.',
    held: `Held for approval, nothing written yet: ${summary.holdReason}. Approve with: runs approve ${summary.runId}`,
    partial: 'Imported in part.',
    failed: `Failed: ${summary.error}`,
  };
  const run = await getRun(orm, summary.runId, 50);
  const issues = (run?.issueList ?? []).map((i) => `  ${i.severity.padEnd(7)} ${[i.file, i.line].filter((x) => x !== null).join(':') || '(package)'}  ${i.field ? `${i.field}: ` : ''}${i.message} [${i.code}]`);
  const more = summary.issues > issues.length ? [`  … and ${summary.issues - issues.length} more (runs show ${summary.runId})`] : [];
  return `\nRun ${summary.runId}: ${verdict[summary.status] ?? summary.status}\n\n${table}\n${issues.length ? `\nIssues (${summary.issues}):\n${[...issues, ...more].join('\n')}\n` : ''}`;
}
