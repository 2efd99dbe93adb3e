import { openOrm } from '../src/db/orm.ts';
import { importPackage } from '../standards/oneroster/csv/import.ts';

/**
 * One CSV import of the csv-import benchmark in a process of its own, so that its peak RSS is the
 * import's alone (not the package writing's, nor an earlier import's). argv: database URL, package
 * path. Sends the summary, the import's seconds and the process's peak RSS (MB) to the parent.
 */
const [url, path] = process.argv.slice(2) as [string, string];
const orm = await openOrm(url);
try {
  const start = process.hrtime.bigint();
  const summary = await importPackage(orm, path, {
    source: 'bench', holdShare: 0.3, batchSize: 10_000, limits: { maxEntries: 64, maxFileBytes: 2 ** 34, maxTotalBytes: 2 ** 36 },
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.send!({ summary, seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 });
} finally {
  await orm.close();
}
