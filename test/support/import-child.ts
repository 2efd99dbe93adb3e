import { openOrm } from '../../src/db/orm.ts';
import { importPackage } from '../../standards/oneroster/csv/import.ts';

/** A gateway process importing a CSV package, for the kill test: argv = database URL, package folder. Prints the run id once it runs, and `done` at the end. */
const [url, dir] = process.argv.slice(2) as [string, string];
const orm = await openOrm(url);
await importPackage(orm, dir, {
  source: 'sis', holdShare: 1, batchSize: 1000, limits: { maxEntries: 64, maxFileBytes: 2 ** 30, maxTotalBytes: 2 ** 32 },
  onRun: (runId) => process.stdout.write(`run ${runId}\n`),
});
process.stdout.write('done\n');
await orm.close();
