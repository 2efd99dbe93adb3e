import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbedded } from '../src/db/embedded.ts';
import { migrate, openOrm } from '../src/db/orm.ts';
import { apiBench } from './api.ts';
import { brightspaceBench } from './brightspace.ts';
import { canvasBench } from './canvas.ts';
import { csvImportBench } from './csv-import.ts';
import { edfiBench } from './edfi.ts';
import { kolibriBench } from './kolibri.ts';
import { loadFaultsBench } from './load-faults.ts';
import { edfiPullBench } from './edfi-pull.ts';
import { oneRosterPullBench } from './oneroster-pull.ts';
import { reconcileBench } from './reconcile.ts';
import { syncOverheadBench } from './sync-overhead.ts';
import { scales, type Scale } from './generate.ts';

/**
 * `npm run bench -- <reconcile|csv-import|api|sync-overhead|edfi|canvas|kolibri|brightspace|load-faults|oneroster-pull|edfi-pull> [--scale small|district|large] [--slow-ms N]`: runs one benchmark on a throw-away
 * embedded PostgreSQL and writes its Markdown table to bench/results/<name>-<scale>.md.
 */

const benchmarks = { reconcile: reconcileBench, 'csv-import': csvImportBench, api: apiBench, 'sync-overhead': syncOverheadBench, edfi: edfiBench, canvas: canvasBench, kolibri: kolibriBench, brightspace: brightspaceBench, 'load-faults': loadFaultsBench, 'oneroster-pull': oneRosterPullBench, 'edfi-pull': edfiPullBench } as const;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { scale: { type: 'string', default: 'district' }, 'slow-ms': { type: 'string' } },
});
const name = (positionals[0] ?? 'reconcile') as keyof typeof benchmarks;
const scale = values.scale as Scale;
if (!(name in benchmarks)) throw new Error(`unknown benchmark '${name}'; try: ${Object.keys(benchmarks).join(', ')}`);
if (!(scale in scales)) throw new Error(`unknown scale '${scale}'; try: ${Object.keys(scales).join(', ')}`);

const root = join(process.cwd(), 'data', 'bench');
rmSync(root, { recursive: true, force: true });
const db = await startEmbedded({ dir: root, port: 54500 + (process.pid % 400), persistent: false,
  ...(values['slow-ms'] ? { logSlowQueriesMs: Number(values['slow-ms']), onLog: (l) => l.includes('duration') && console.log(l.slice(0, 300)) } : {}),
});
try {
  await db.createDatabase('bench');
  const orm = await openOrm(db.url('bench'));
  await migrate(orm);
  const newDatabase = async (database: string) => {
    await db.createDatabase(database);
    const other = await openOrm(db.url(database), { contextName: database });
    await migrate(other);
    return other;
  };
  const table = await benchmarks[name]({ orm, scale, workDir: join(root, 'work'), newDatabase });
  await orm.close();
  mkdirSync(join(process.cwd(), 'bench', 'results'), { recursive: true });
  const out = join(process.cwd(), 'bench', 'results', `${name}-${scale}.md`);
  writeFileSync(out, table);
  console.log(`\n${table}\nwritten to ${out}`);
} finally {
  await db.stop();
  rmSync(root, { recursive: true, force: true });
}
