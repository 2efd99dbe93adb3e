import { createWriteStream, mkdirSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { sql, type Kysely } from 'kysely';
import type { Orm } from '../src/db/orm.ts';
import { entitySpec, entitySpecs, snake } from '../src/sync/entities.ts';
import { withBulkLoadFor } from '../src/sync/apply.ts';
import { reconcile, type RunSummary } from '../src/sync/reconcile.ts';
import { storedForm } from '../src/sync/stage.ts';
import { uuidv7 } from '../src/sync/uuid.ts';
import { copyLine, copyValue } from '../src/sync/copy.ts';
import { generateDistrict, type Scale } from './generate.ts';
import { markdownTable, measure, type Measured } from './measure.ts';

export interface BenchContext {
  orm: Orm;
  scale: Scale;
  workDir: string;
  /** Another migrated database on the same server (a second gateway's), with its own ORM. */
  newDatabase: (name: string) => Promise<Orm>;
}

/**
 * Reconcile of a synthetic district into an empty database, then again unchanged, each against
 * the baseline of raw COPY of the same rows (same columns, child roles included) into unindexed
 * tables on the same server in the same run. A second row loads the same files into the live
 * schema of another database (keys, indexes and foreign keys built after, as a first load does,
 * then statistics): what the schema alone costs, before any record is read, checked or compared.
 */
export async function reconcileBench({ orm, scale, workDir, newDatabase }: BenchContext): Promise<string> {
  const files = await writeCopyFiles(scale, workDir);
  const db = orm.em.fork().getKysely();
  for (const f of files) await sql`create table ${sql.table(`copy_${f.table}`)} (like ${sql.table(f.table)} including defaults)`.execute(db);

  const copy = await measure('raw COPY into unindexed tables', async () => {
    for (const f of files) {
      await copyInto(db, `copy_${f.table}`, f);
    }
    return { rows: files.reduce((n, f) => n + f.rows, 0) };
  });

  const run = (label: string) =>
    measure(label, async () => {
      const summary = await reconcile(orm, {
        source: 'bench', mode: 'bulk', batches: generateDistrict({ scale }), holdShare: 0.3, batchSize: 10_000,
      });
      console.log('  phases (ms):', summary.phases);
      if (summary.status !== 'succeeded' || summary.issues > 0) throw new Error(`run ended ${summary.status} with ${summary.issues} issues`);
      return { rows: totalRows(summary), summary };
    });

  const first = await run('reconcile, empty database');
  const before = await maxChangeVersion(orm);
  const again = await run('reconcile, unchanged re-run');
  const written = written_(again.detail!.summary);
  if (written !== 0 || (await maxChangeVersion(orm)) !== before) throw new Error(`unchanged re-run wrote ${written} rows`);
  // After the runs, so that its writes do not weigh on theirs.
  const schemaFloor = await intoLiveSchema(await newDatabase('floor'), files);

  const rows: Measured[] = [copy, schemaFloor, first, again];
  return markdownTable(`Reconcile, ${scale} scale`, rows, copy, [
    `Records: ${first.rows.toLocaleString('en')} canonical rows (users carry their roles); COPY loads the same rows plus one user_role row per role.`,
    `Unchanged re-run wrote ${written} rows (created + updated + tombstoned), max change version unchanged.`,
    `The second row is the schema's own cost: the same COPY files into the live tables of an empty database, keys, indexes, foreign keys and statistics built after the rows are in (the first load's bulk path, src/sync/apply.ts), no record read, checked or compared.`,
    `Targets: first load ≤ 4× COPY, unchanged re-run ≤ 1.5× COPY.`,
  ]);
}

/** The COPY files straight into the live tables, entity by entity in one transaction, as a first load's apply builds them. */
async function intoLiveSchema(target: Orm, files: CopyFile[]): Promise<Measured> {
  const db = target.em.fork().getKysely();
  await sql`insert into source (id, name, kind) values (1, 'bench', 'api')`.execute(db);
  const byTable = new Map(files.map((f) => [f.table, f]));
  try {
    return await measure('raw COPY into the live schema, keys, indexes and statistics built after', async () => {
      await target.em.fork().transactional(async (tx) => {
        const k = tx.getKysely();
        for (const spec of entitySpecs) {
          const tables = [spec.table, ...spec.children.map((c) => c.table)].filter((t) => byTable.has(t));
          if (tables.length === 0) continue;
          await withBulkLoadFor(k, tables, byTable.get(tables[0]!)!.rows, async () => {
            for (const t of tables) await copyInto(k, t, byTable.get(t)!);
          });
        }
        for (const table of byTable.keys()) await sql`analyze ${sql.table(table)}`.execute(k);
      });
      return { rows: files.reduce((n, f) => n + f.rows, 0) };
    });
  } finally {
    await target.close();
  }
}

/** Server-side COPY of one of the files into `table`. */
const copyInto = (db: Kysely<any>, table: string, f: CopyFile) =>
  sql`copy ${sql.table(table)} (${sql.raw(f.columns.map((c) => `"${c}"`).join(', '))}) from ${sql.lit(f.path)}`.execute(db);

const totalRows = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0);
const written_ = (s: RunSummary) => Object.values(s.counts).reduce((n, c) => n + c.created + c.updated + c.tombstoned, 0);

async function maxChangeVersion(orm: Orm) {
  const { rows } = await sql<{ v: string }>`select last_value as v from change_version_seq`.execute(orm.em.fork().getKysely());
  return rows[0]!.v;
}

interface CopyFile {
  table: string;
  columns: string[];
  path: string;
  rows: number;
}

/** The generated district as COPY text files, one per table, readable by the server process. */
async function writeCopyFiles(scale: Scale, dir: string): Promise<CopyFile[]> {
  mkdirSync(dir, { recursive: true });
  await chmod(dir, 0o755);
  const files = new Map<string, { file: CopyFile; out: ReturnType<typeof createWriteStream> }>();
  const base = ['edfi_id', 'status', 'date_last_modified', 'etag', 'change_version', 'content_hash', 'source_id'];
  const open = (table: string, columns: string[]) => {
    let entry = files.get(table);
    if (!entry) {
      const path = join(dir, `${table}.tsv`);
      entry = { file: { table, columns, path, rows: 0 }, out: createWriteStream(path, { mode: 0o644 }) };
      files.set(table, entry);
    }
    return entry;
  };
  const now = new Date().toISOString();
  let cv = 0;
  for (const batch of generateDistrict({ scale })) {
    const spec = entitySpec(batch.entity);
    const columns = spec.fields.map(snake);
    const { out, file } = open(spec.table, [...base, ...columns]);
    let chunk = '';
    for (const record of batch.records) {
      const { row, children, content } = storedForm(spec, record as Record<string, unknown>);
      file.rows++;
      chunk += `${copyLine([uuidv7(), 'active', now, `${++cv}-${content.slice(0, 8)}`, cv, content, 1]).slice(0, -1)}\t${row}`;
      const id = copyValue(record.sourcedId);
      spec.children.forEach((child, i) => {
        const childFile = open(child.table, ['user_sourced_id', ...child.columns]);
        for (const line of children[i]!) {
          childFile.file.rows++;
          childFile.out.write(`${id}\t${line}`);
        }
      });
    }
    if (!out.write(chunk)) await once(out, 'drain');
  }
  await Promise.all([...files.values()].map(({ out }) => new Promise((resolve) => out.end(resolve))));
  return [...files.values()].map((f) => f.file);
}

