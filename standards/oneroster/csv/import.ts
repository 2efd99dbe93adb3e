import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { leanHeap } from '../../../src/heap.ts';
import { copyLine, RunConnection } from '../../../src/sync/copy.ts';
import { readRecords } from '../../../src/sync/read.ts';
import { reconcile, type RunSummary } from '../../../src/sync/reconcile.ts';
import type { EntityName, RecordBatch, SourceIssue } from '../../../src/sync/records.ts';
import { version } from '../../../src/version.ts';
import { files, manifestFiles, readOrder, users11, users12, type CsvFile, type FileName } from './files.ts';
import { modeOf, readManifest, type FileMode, type Manifest } from './manifest.ts';
import { openPackage, PackageError, type CsvPackage, type PackageLimits } from './package.ts';
import { csvChunks, type CsvChunk } from './parse.ts';
import { checkHeader, checkRow, type Row } from './rows.ts';

/**
 * Importing a OneRoster CSV package: the manifest decides each file's mode, files are read as
 * streams in dependency order, every row is checked, and the records go to the reconcile engine
 * as one all-or-nothing run (nothing lands if anything is wrong; `dryRun` only checks).
 *
 * roles.csv and userProfiles.csv belong to users in the canonical model, so they are read first
 * into temp tables and joined to users.csv batch by batch; where they are delta or absent, the
 * stored roles are the base the file's rows change. The gradebook's link files (a lineItem's or
 * result's score scale and learning objectives) are read the same way into the lineItems and
 * results they belong to. Memory stays bounded by the batch size.
 */

export interface ImportOptions {
  /** Source name; default: the manifest's source.systemCode, else `csv`. */
  source?: string;
  dryRun?: boolean;
  holdShare: number;
  batchSize: number;
  limits: PackageLimits;
  issueCap?: number;
  onRun?: (runId: number) => void;
  onProgress?: (progress: { file: string; rows: number }) => void;
}

const entityOf: Partial<Record<FileName, EntityName>> = {
  orgs: 'org', academicSessions: 'academicSession', courses: 'course', classes: 'class', users: 'user', enrollments: 'enrollment', demographics: 'demographics',
  categories: 'category', scoreScales: 'scoreScale', lineItems: 'lineItem', results: 'result',
};

/** The link files of lineItems.csv and results.csv: one holds the score scale, the other the learning objectives. */
const linksOf = {
  lineItems: { scale: 'lineItemScoreScales', objectives: 'lineItemLearningObjectiveIds' },
  results: { scale: 'resultScoreScales', objectives: 'resultLearningObjectiveIds' },
} as const satisfies Partial<Record<FileName, { scale: FileName; objectives: FileName }>>;

/** A package opened for reading: what it is imported as, and its batches. Close it when done. */
export interface PackageRead {
  source: string;
  mode: 'bulk' | 'delta';
  /** Entities whose file is bulk: the ones the package replaces. */
  scope: EntityName[];
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>;
  /** The package's fingerprint (ReconcileOptions.input), read on demand; none for a package that cannot be read. */
  fingerprint(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** What reading a package needs (importing it needs the run's options too). */
export type ReadOptions = Pick<ImportOptions, 'source' | 'batchSize' | 'limits' | 'onProgress'>;

export async function openPackageRead(orm: MikroORM, path: string, options: ReadOptions): Promise<PackageRead> {
  const early: SourceIssue[] = [];
  let pkg: CsvPackage | undefined;
  let manifest: Manifest | undefined;
  try {
    pkg = await openPackage(path, options.limits);
    manifest = await loadManifest(pkg, early);
  } catch (e) {
    if (!(e instanceof PackageError)) throw e;
    early.push({ entity: 'package', sourcedId: null, field: null, file: null, line: null, severity: 'error', code: e.code, message: e.message });
  }
  const source = options.source ?? manifest?.systemCode ?? 'csv';
  // A package that cannot be read still gets a run, so its report is where every other one is.
  if (!pkg || !manifest) {
    return { source, mode: 'delta', scope: [], batches: [{ entity: 'org', records: [], issues: early }], fingerprint: async () => undefined, close: async () => pkg?.close() };
  }
  const scope = importedFiles(manifest).filter((f) => entityOf[f] && modeOf(manifest!, f) === 'bulk').map((f) => entityOf[f]!);
  const conn = await RunConnection.open(orm.config.get('clientUrl')!);
  const reader = new PackageReader(orm, pkg, manifest, conn, options);
  return {
    source, mode: scope.length ? 'bulk' : 'delta', scope, batches: reader.batches(early), fingerprint: () => fingerprintOf(pkg!),
    close: async () => {
      await conn.close();
      await pkg!.close();
    },
  };
}

export async function importPackage(orm: MikroORM, path: string, options: ImportOptions): Promise<RunSummary> {
  // From the start: the fingerprint reads the whole package before the run (which takes it too) begins.
  const releaseHeap = leanHeap();
  try {
    const read = await openPackageRead(orm, path, options);
    try {
      return await reconcile(orm, {
        source: read.source, sourceKind: 'csv', mode: read.mode, scope: read.scope, batches: read.batches, atomic: true, trigger: 'upload',
        // A dry run reads everything anyway.
        input: options.dryRun ? undefined : await read.fingerprint(),
        dryRun: options.dryRun, holdShare: options.holdShare, batchSize: options.batchSize, issueCap: options.issueCap, onRun: options.onRun,
      });
    } finally {
      await read.close();
    }
  } finally {
    releaseHeap();
  }
}

/**
 * Every entry's bytes in name order, and the gateway version that reads them into records: the
 * same fingerprint, the same records. Undefined when an entry cannot be read to its end (the
 * import then reports why).
 */
async function fingerprintOf(pkg: CsvPackage): Promise<string | undefined> {
  const hash = createHash('sha256').update(`rostergate ${version} oneroster-csv\0`);
  try {
    for (const [name, size] of [...pkg.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
      hash.update(`${name}\0${size}\0`);
      for await (const chunk of await pkg.open(name)) hash.update(chunk as Buffer);
    }
  } catch {
    return undefined;
  }
  return hash.digest('hex');
}

/** The files a package's version is read for: all of readOrder in 1.2, the rostering files in 1.1. */
const importedFiles = (manifest: Manifest): FileName[] => (manifest.version === '1.1' ? readOrder.slice(0, readOrder.indexOf('demographics') + 1) : readOrder);

async function loadManifest(pkg: CsvPackage, issues: SourceIssue[]): Promise<Manifest | undefined> {
  if (!pkg.entries.has('manifest.csv')) {
    issues.push({ entity: 'package', sourcedId: null, field: null, file: 'manifest.csv', line: null, severity: 'error', code: 'manifest_missing', message: 'the package has no manifest.csv' });
    return undefined;
  }
  const rows: { cells: string[]; line: number }[] = [];
  for await (const chunk of csvChunks(await pkg.open('manifest.csv'))) {
    chunk.rows.forEach((cells, i) => rows.push({ cells, line: chunk.lines[i]! }));
    if (rows.length > 1000) break;
  }
  const { manifest, issues: found } = readManifest(rows, new Set(pkg.entries.keys()));
  issues.push(...found.map((i) => ({ ...i, entity: 'package' })));
  for (const name of pkg.entries.keys()) {
    const file = name.replace(/\.csv$/, '');
    if (name !== 'manifest.csv' && !(manifestFiles as readonly string[]).includes(file)) {
      issues.push({ entity: 'package', sourcedId: null, field: null, file: name, line: null, severity: 'warning', code: 'unknown_file', message: `${name} is not a OneRoster file; it is ignored` });
    }
  }
  if (manifest) {
    for (const [file, mode] of manifest.modes) {
      if (mode !== 'absent' && !(importedFiles(manifest) as string[]).includes(file)) {
        const why = manifest.version === '1.1' && (readOrder as string[]).includes(file) ? 'gradebook files of OneRoster 1.1 are not imported' : 'the resources files are not imported yet';
        issues.push({ entity: 'package', sourcedId: null, field: `file.${file}`, file: `${file}.csv`, line: null, severity: 'warning', code: 'not_imported', message: `${file}.csv is ignored: ${why}` });
      }
    }
  }
  return manifest;
}

type ChildKind = 'roles' | 'userProfiles';
type Invalid = { sourcedId: string; line: number | null };
type ChildRow = { user_sourced_id: string | null; line: number; sourced_id: string; tombstone: boolean; item: Record<string, unknown> };
type Item = Record<string, unknown>;

class PackageReader {
  readonly #orm: MikroORM;
  readonly #pkg: CsvPackage;
  readonly #manifest: Manifest;
  readonly #conn: RunConnection;
  readonly #options: ReadOptions;
  /** District org ids (1.1 `administrator` becomes districtAdministrator there, siteAdministrator elsewhere). */
  readonly #districts = new Set<string>();

  constructor(orm: MikroORM, pkg: CsvPackage, manifest: Manifest, conn: RunConnection, options: ReadOptions) {
    this.#orm = orm;
    this.#pkg = pkg;
    this.#manifest = manifest;
    this.#conn = conn;
    this.#options = options;
  }

  async *batches(early: SourceIssue[]): AsyncGenerator<RecordBatch> {
    if (early.length) yield { entity: 'org', records: [], issues: early };
    try {
      yield* this.#files();
    } catch (e) {
      // A file that cannot be read to its end (a corrupt entry, a zip bomb caught by its size) ends the import as invalid.
      if (!(e instanceof PackageError)) throw e;
      yield { entity: 'org', records: [], issues: [{ entity: 'package', sourcedId: null, field: null, file: e.file ?? null, line: null, severity: 'error', code: e.code, message: e.message }] };
    }
  }

  async *#files(): AsyncGenerator<RecordBatch> {
    for (const name of ['orgs', 'academicSessions', 'courses', 'classes'] as const) yield* this.#plain(name);
    if (this.#manifest.version === '1.2') {
      await this.#conn.query(`create temp table csv_child (kind text, user_sourced_id text, line int, sourced_id text, tombstone boolean, item jsonb)`);
      await this.#conn.query(`create temp table csv_user (sourced_id text, line int)`);
      for (const kind of ['userProfiles', 'roles'] as const) yield* this.#loadChildren(kind);
      await this.#conn.query(`create index on csv_child (user_sourced_id)`);
    } else {
      const { rows } = await sql<{ sourced_id: string }>`select sourced_id from org where type = 'district' and status = 'active'`.execute(this.#db());
      for (const r of rows) this.#districts.add(r.sourced_id);
    }
    yield* this.#users();
    for (const name of ['enrollments', 'demographics'] as const) yield* this.#plain(name);
    // OneRoster 1.1's gradebook files have other columns; they are not read (loadManifest says so).
    if (this.#manifest.version === '1.1') return;
    for (const name of ['categories', 'scoreScales'] as const) yield* this.#plain(name);
    await this.#conn.query(`create temp table csv_link (kind text, owner text, line int, tombstone boolean, item jsonb)`);
    await this.#conn.query(`create temp table csv_parent (kind text, sourced_id text)`);
    for (const parent of ['lineItems', 'results'] as const) {
      for (const link of Object.values(linksOf[parent])) yield* this.#loadLinks(link);
      await this.#conn.query(`create index on csv_link (kind, owner)`);
      yield* this.#linked(parent);
    }
  }

  /** A link file into csv_link, keyed by the lineItem or result it belongs to. */
  async *#loadLinks(name: FileName): AsyncGenerator<RecordBatch> {
    const owner = files[name].owner!;
    for await (const { rows, issues } of this.#rows(name, [files[name]])) {
      if (issues.length) yield { entity: owner === 'resultSourcedId' ? 'result' : 'lineItem', records: [], issues };
      await this.#conn.copy('csv_link', ['kind', 'owner', 'line', 'tombstone', 'item'],
        rows.map((r) => copyLine([name, r.fields[owner] as string, r.line, r.tombstone, r.fields])).join(''));
    }
  }

  /**
   * lineItems.csv or results.csv with their link rows folded in. Where a link file is delta or
   * absent, the stored record's scale and objectives are the base its rows change; bulk replaces.
   * Link rows for a record the file does not list are an error: they need their record in the package.
   */
  async *#linked(name: 'lineItems' | 'results'): AsyncGenerator<RecordBatch> {
    const entity = entityOf[name]!;
    const links = linksOf[name];
    const modes = { scale: modeOf(this.#manifest, links.scale), objectives: modeOf(this.#manifest, links.objectives) };
    for await (const { rows, issues, invalid } of this.#rows(name, [files[name]])) {
      const ids = rows.map((r) => r.sourcedId);
      await this.#conn.copy('csv_parent', ['kind', 'sourced_id'], ids.map((id) => copyLine([name, id])).join(''));
      const linkRows = await this.#conn.query<{ kind: FileName; owner: string; line: number; tombstone: boolean; item: Item }>(
        `select kind, owner, line, tombstone, item from csv_link where kind = any($1) and owner = any($2) order by line`, [[links.scale, links.objectives], ids]);
      const stored = modes.scale !== 'bulk' || modes.objectives !== 'bulk' ? await readRecords(this.#orm.em.fork(), entity, ids) : new Map();
      const records = rows.map((r) => {
        if (r.tombstone) return { sourcedId: r.sourcedId, status: 'tobedeleted' };
        const base = stored.get(r.sourcedId)?.record ?? {};
        const mine = linkRows.filter((l) => l.owner === r.sourcedId);
        const scale = foldScale(modes.scale === 'bulk' ? undefined : (base.scoreScaleSourcedId as string | undefined), mine.filter((l) => l.kind === links.scale));
        if (scale instanceof Array) {
          issues.push(...scale.map((l) => ({
            entity, sourcedId: r.sourcedId, field: 'scoreScaleSourcedId', file: files[links.scale].fileName, line: l.line, severity: 'error' as const,
            code: 'several_score_scales', message: `${entity} ${r.sourcedId} is linked to more than one score scale; OneRoster 1.2 REST gives it one`,
          })));
          return r.fields;
        }
        const objectives = foldObjectives(entity, modes.objectives === 'bulk' ? undefined : (base.learningObjectiveSet as Item[] | undefined), mine.filter((l) => l.kind === links.objectives));
        return { ...r.fields, ...(scale ? { scoreScaleSourcedId: scale } : {}), ...(objectives.length ? { learningObjectiveSet: objectives } : {}) };
      });
      yield { entity, file: files[name].fileName, issues, invalid, lines: rows.map((r) => r.line), records } as unknown as RecordBatch;
    }
    const orphans = await this.#conn.query<{ kind: FileName; owner: string; line: number }>(
      `select l.kind, l.owner, l.line from csv_link l where l.kind = any($1)
         and not exists (select 1 from csv_parent p where p.kind = $2 and p.sourced_id = l.owner) order by l.line limit 1000`, [[links.scale, links.objectives], name]);
    if (orphans.length) {
      yield {
        entity, records: [], issues: orphans.map((o) => ({
          entity, sourcedId: o.owner, field: files[o.kind].owner!, file: files[o.kind].fileName, line: o.line, severity: 'error' as const, code: 'unresolved_reference',
          message: `${files[o.kind].owner} ${o.owner} is not in ${files[name].fileName}; a link row needs its ${entity} in the same package`,
        })),
      };
    }
  }

  /** Rows of one file, a batch at a time, with the issues found on the way (file and line set). */
  async *#rows(name: FileName, layouts: CsvFile[]): AsyncGenerator<{ rows: Row[]; issues: SourceIssue[]; invalid: Invalid[] }> {
    const mode = modeOf(this.#manifest, name);
    if (mode === 'absent') return;
    const fileName = files[name].fileName;
    const owner = files[name].owner;
    const entity = entityOf[name] ?? (owner === 'resultSourcedId' ? 'result' : owner ? 'lineItem' : 'user');
    const tag = (i: Omit<SourceIssue, 'entity' | 'file'>): SourceIssue => ({ ...i, entity, file: fileName });
    let layout: ReturnType<typeof checkHeader> | undefined;
    let rows: Row[] = [];
    let issues: SourceIssue[] = [];
    let invalid: Invalid[] = [];
    let count = 0;
    const stream = await this.#pkg.open(fileName);
    const chunks = csvChunks(stream);
    for (;;) {
      let next: IteratorResult<CsvChunk>;
      try {
        next = await chunks.next();
      } catch (e) {
        throw new PackageError('unreadable_file', `${fileName} cannot be read to its end: ${(e as Error).message}`, fileName);
      }
      if (next.done) break;
      const chunk = next.value;
      issues.push(...chunk.errors.map((e) => tag({ sourcedId: null, field: null, line: e.line, severity: 'error', code: 'malformed_csv', message: e.message })));
      chunk.rows.forEach((cells, i) => {
        const line = chunk.lines[i]!;
        if (!layout) {
          layout = checkHeader(cells, layouts);
          if (Array.isArray(layout)) issues.push(...layout.map(tag));
          return;
        }
        if (Array.isArray(layout) || (cells.length === 1 && cells[0] === '')) return;
        const checked = checkRow(cells, line, layout, { mode: mode as 'bulk' | 'delta', lenient: this.#manifest.version === '1.1' });
        for (const issue of checked.issues) issues.push(tag(issue));
        if (checked.row) rows.push(checked.row);
        else if (cells[0]?.trim()) invalid.push({ sourcedId: cells[0].trim(), line });
        count++;
      });
      if (rows.length >= this.#options.batchSize) {
        yield { rows, issues, invalid };
        [rows, issues, invalid] = [[], [], []];
        this.#options.onProgress?.({ file: fileName, rows: count });
      }
    }
    if (!layout) issues.push(tag({ sourcedId: null, field: null, line: 1, severity: 'error', code: 'empty_file', message: `${fileName} is empty; even an empty file needs its header` }));
    yield { rows, issues, invalid };
    this.#options.onProgress?.({ file: fileName, rows: count });
  }

  async *#plain(name: FileName): AsyncGenerator<RecordBatch> {
    const entity = entityOf[name]!;
    for await (const { rows, issues, invalid } of this.#rows(name, [files[name]])) {
      if (name === 'orgs') for (const r of rows) if (r.fields.type === 'district') this.#districts.add(r.sourcedId);
      yield {
        entity, file: files[name].fileName, issues, invalid, lines: rows.map((r) => r.line),
        records: rows.map((r) => (r.tombstone ? { sourcedId: r.sourcedId, status: 'tobedeleted' } : r.fields)),
      } as unknown as RecordBatch;
    }
  }

  /** roles.csv or userProfiles.csv into the temp table, as canonical items keyed by their user. */
  async *#loadChildren(kind: ChildKind): AsyncGenerator<RecordBatch> {
    for await (const { rows, issues } of this.#rows(kind, [files[kind]])) {
      if (issues.length) yield { entity: 'user', records: [], issues };
      let text = '';
      for (const r of rows) {
        const { userSourcedId, sourcedId: _, ...rest } = r.fields as { userSourcedId?: string } & Item;
        text += copyLine([kind, userSourcedId ?? null, r.line, r.sourcedId, r.tombstone, r.tombstone ? null : childItem(kind, r.sourcedId, rest)]);
      }
      await this.#conn.copy('csv_child', ['kind', 'user_sourced_id', 'line', 'sourced_id', 'tombstone', 'item'], text);
    }
    // A deleted role or profile may name only itself: its user is the one it is stored under.
    const [table, key] = kind === 'roles' ? ['user_role', 'sourced_id'] : ['user_profile', 'profile_id'];
    const unowned = await this.#conn.query<{ n: number }>(`select count(*)::int as n from csv_child where kind = $1 and user_sourced_id is null`, [kind]);
    if (unowned[0]!.n > 0) {
      await this.#conn.query(
        `update csv_child c set user_sourced_id = s.user_sourced_id from ${table} s where c.kind = $1 and c.user_sourced_id is null and s.${key} = c.sourced_id`,
        [kind],
      );
      const lost = await this.#conn.query<{ line: number; sourced_id: string }>(
        `select line, sourced_id from csv_child where kind = $1 and user_sourced_id is null order by line limit 1000`, [kind]);
      if (lost.length) {
        yield {
          entity: 'user', records: [], issues: lost.map((l) => ({
            entity: 'user', sourcedId: null, field: 'sourcedId', file: files[kind].fileName, line: l.line, severity: 'error' as const, code: 'unresolved_reference',
            message: `${kind === 'roles' ? 'role' : 'userProfile'} ${l.sourced_id} is to be deleted but no stored user has it`,
          })),
        };
      }
    }
  }

  async *#users(): AsyncGenerator<RecordBatch> {
    const v11 = this.#manifest.version === '1.1';
    const layouts = v11 ? [users11] : [files.users, users12];
    for await (const { rows, issues, invalid } of this.#rows('users', layouts)) {
      const records: unknown[] = [];
      const lines: number[] = [];
      if (v11) {
        for (const r of rows) {
          records.push(r.tombstone ? { sourcedId: r.sourcedId, status: 'tobedeleted' } : this.#fromV11(r));
          lines.push(r.line);
        }
      } else {
        await this.#conn.copy('csv_user', ['sourced_id', 'line'], rows.map((r) => copyLine([r.sourcedId, r.line])).join(''));
        const live = rows.filter((r) => !r.tombstone);
        const merged = await this.#withChildren(live.map((r) => r.fields), new Map(live.map((r) => [r.sourcedId, r.line])), issues);
        for (const r of rows) {
          const record = r.tombstone ? { sourcedId: r.sourcedId, status: 'tobedeleted' as const } : merged.get(r.sourcedId);
          if (!record) {
            invalid.push({ sourcedId: r.sourcedId, line: r.line });
            continue;
          }
          records.push(record);
          lines.push(r.line);
        }
      }
      yield { entity: 'user', file: 'users.csv', records, lines, issues, invalid } as RecordBatch;
    }
    if (!v11) yield* this.#usersOnlyInChildren();
  }

  /**
   * Users whose roles or profiles the package changes without listing the user in users.csv:
   * their stored record with the package's changes applied. With roles.csv in bulk, every user
   * of the source is rebuilt, since the file replaces every role.
   */
  async *#usersOnlyInChildren(): AsyncGenerator<RecordBatch> {
    const usersMode = modeOf(this.#manifest, 'users');
    const childBulk = modeOf(this.#manifest, 'roles') === 'bulk' || modeOf(this.#manifest, 'userProfiles') === 'bulk';
    await this.#conn.query(`create index on csv_user (sourced_id)`);
    const { rows: own } = childBulk && usersMode !== 'bulk'
      ? await sql<{ sourced_id: string }>`select u.sourced_id from "user" u join source s on s.id = u.source_id
          where s.name = ${this.#sourceName()} and u.status = 'active'`.execute(this.#db())
      : { rows: [] };
    await this.#conn.query(`create temp table csv_owned (sourced_id text primary key)`);
    if (own.length) await this.#conn.copy('csv_owned', ['sourced_id'], own.map((o) => copyLine([o.sourced_id])).join(''));
    // The users to rebuild, kept in the database and read a batch at a time.
    await this.#conn.query(`create temp table csv_extra as
      select id, min(line) as line from (
        select user_sourced_id as id, line from csv_child where user_sourced_id is not null
        union all select sourced_id, null from csv_owned) x
      where not exists (select 1 from csv_user u where u.sourced_id = x.id)
      group by id`);
    await this.#conn.query(`create index on csv_extra (id)`);
    const issues: SourceIssue[] = [];
    const problem = (id: string, line: number | null, message: string) =>
      issues.push({ entity: 'user', sourcedId: id, field: 'userSourcedId', file: line === null ? 'users.csv' : 'roles.csv', line, severity: 'error', code: 'unresolved_reference', message });
    for (let after = ''; ;) {
      const page = await this.#conn.query<{ id: string; line: number | null }>(
        `select id, line from csv_extra where id > $1 order by id limit $2`, [after, this.#options.batchSize]);
      if (page.length === 0) break;
      after = page.at(-1)!.id;
      const lines = new Map(page.filter((p) => p.line !== null).map((p) => [p.id, p.line!]));
      const bases: Item[] = [];
      if (usersMode === 'bulk') {
        for (const p of page) problem(p.id, p.line, `user ${p.id} is not in users.csv, which lists every user in a bulk package`);
      } else {
        const stored = await readRecords(this.#orm.em.fork(), 'user', page.map((p) => p.id));
        for (const p of page) {
          const s = stored.get(p.id);
          if (s?.status === 'active') bases.push(s.record);
          else problem(p.id, p.line, `user ${p.id} is neither in users.csv nor stored`);
        }
      }
      const merged = await this.#withChildren(bases, lines, issues);
      yield { entity: 'user', file: 'roles.csv', records: [...merged.values()] as RecordBatch['records'], lines: [...merged.keys()].map((id) => lines.get(id) ?? null), issues: issues.splice(0) } as RecordBatch;
    }
  }

  #db() {
    return this.#orm.em.fork().getKysely();
  }

  #sourceName() {
    return this.#options.source ?? this.#manifest.systemCode ?? 'csv';
  }

  /** Users with their roles and profiles: from the files, on top of the stored ones where the files are delta or absent. */
  async #withChildren(users: Item[], lines: Map<string, number>, issues: SourceIssue[]): Promise<Map<string, Item>> {
    const ids = users.map((u) => u.sourcedId as string);
    const modes = { roles: modeOf(this.#manifest, 'roles'), userProfiles: modeOf(this.#manifest, 'userProfiles') };
    const rows = ids.length
      ? await this.#conn.query<ChildRow & { kind: ChildKind }>(`select kind, user_sourced_id, line, sourced_id, tombstone, item from csv_child where user_sourced_id = any($1) order by line`, [ids])
      : [];
    const byUser = new Map<string, (ChildRow & { kind: ChildKind })[]>();
    for (const r of rows) {
      const list = byUser.get(r.user_sourced_id!);
      if (list) list.push(r);
      else byUser.set(r.user_sourced_id!, [r]);
    }
    const needStored = modes.roles !== 'bulk' || modes.userProfiles !== 'bulk';
    const stored = needStored ? await readRecords(this.#orm.em.fork(), 'user', ids) : new Map();
    const out = new Map<string, Item>();
    for (const user of users) {
      const id = user.sourcedId as string;
      const base = stored.get(id)?.record ?? {};
      const mine = byUser.get(id) ?? [];
      const roles = merge(base.roles as Item[] | undefined, mine.filter((r) => r.kind === 'roles'), modes.roles, 'sourcedId');
      const profiles = merge(base.userProfiles as Item[] | undefined, mine.filter((r) => r.kind === 'userProfiles'), modes.userProfiles, 'profileId');
      if (roles.length === 0) {
        issues.push({
          entity: 'user', sourcedId: id, field: 'roles', file: 'users.csv', line: lines.get(id) ?? null, severity: 'error', code: 'user_without_role',
          message: `user ${id} has no role; every user needs at least one row in roles.csv`,
        });
        continue;
      }
      const { roles: _r, userProfiles: _p, ...fields } = user;
      out.set(id, { ...fields, roles, ...(profiles.length ? { userProfiles: profiles } : {}) });
    }
    return out;
  }

  #fromV11(r: Row): RecordBatch['records'][number] {
    const { orgSourcedIds, role, ...fields } = r.fields as { orgSourcedIds: string[]; role: string } & Item;
    const roles = orgSourcedIds.map((org, i) => ({
      roleType: i === 0 ? 'primary' : 'secondary',
      role: role === 'administrator' ? (this.#districts.has(org) ? 'districtAdministrator' : 'siteAdministrator') : role,
      orgSourcedId: org,
    }));
    return { ...fields, roles } as RecordBatch['records'][number];
  }
}

/** The score scale after a record's link rows (in file order); the rows themselves when more than one scale is linked. */
function foldScale(stored: string | undefined, rows: { tombstone: boolean; line: number; item: Item }[]): string | undefined | { line: number }[] {
  let scale = stored;
  const linked: { line: number; id: string }[] = [];
  for (const row of rows) {
    const id = row.item.scoreScaleSourcedId as string;
    if (row.tombstone) {
      if (scale === id) scale = undefined;
    } else {
      scale = id;
      if (!linked.some((l) => l.id === id)) linked.push({ line: row.line, id });
    }
  }
  return linked.length > 1 ? linked : scale;
}

/** Learning objectives after a record's link rows, grouped by source as REST has them. */
function foldObjectives(entity: EntityName, stored: Item[] | undefined, rows: { tombstone: boolean; item: Item }[]): Item[] {
  const inner = entity === 'lineItem' ? 'learningObjectiveIds' : 'learningObjectiveResults';
  const flat = new Map<string, Item>();
  for (const set of stored ?? []) {
    for (const entry of (set[inner] as unknown[]) ?? []) {
      const item = entity === 'lineItem' ? { learningObjectiveId: entry } : (entry as Item);
      flat.set(`${set.source}\u0000${item.learningObjectiveId}`, { source: set.source, ...item });
    }
  }
  for (const { tombstone, item } of rows) {
    const key = `${item.source}\u0000${item.learningObjectiveId}`;
    if (tombstone) flat.delete(key);
    else flat.set(key, { source: item.source, learningObjectiveId: item.learningObjectiveId, score: item.score, textScore: item.textScore });
  }
  const bySource = new Map<string, unknown[]>();
  for (const { source, learningObjectiveId, score, textScore } of flat.values()) {
    const list = bySource.get(source as string) ?? bySource.set(source as string, []).get(source as string)!;
    list.push(entity === 'lineItem' ? learningObjectiveId : clean({ learningObjectiveId, score, textScore }));
  }
  return [...bySource].map(([source, list]) => ({ source, [inner]: list }));
}

const clean = (item: Item) => Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined && v !== null));

/** A role or profile as the user record holds it; extension columns of these files are not kept. */
function childItem(kind: ChildKind, sourcedId: string, { metadata: _, ...fields }: Item): Item {
  if (kind === 'roles') return { sourcedId, ...fields };
  const { credentialType, username, ...rest } = fields as { credentialType: string; username: string } & Item;
  return { profileId: sourcedId, ...rest, credentials: [{ type: credentialType, username }] };
}

/** Stored children changed by the file's rows (delta), or replaced by them (bulk). */
function merge(stored: Item[] | undefined, rows: ChildRow[], mode: FileMode, key: string): Item[] {
  if (mode === 'bulk') return rows.map((r) => r.item);
  const out = new Map<unknown, Item>((stored ?? []).map((item, i) => [item[key] ?? Symbol(i), item]));
  for (const r of rows) {
    if (r.tombstone) out.delete(r.sourced_id);
    else out.set(r.sourced_id, r.item);
  }
  return [...out.values()];
}
