import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import yazl from 'yazl';
import { entitySpec } from '../../../src/sync/entities.ts';
import { scanRecords, type StoredRecord } from '../../../src/sync/read.ts';
import { csvLine } from '../../../src/text/csv.ts';
import type { EntityName } from '../../../src/sync/records.ts';
import { files, headerOf, type Column, type CsvFile, type FileName } from './files.ts';
import { writeManifest, type FileMode } from './manifest.ts';
import { formatList, formatScoreScaleValue, formatUserIds } from './values.ts';

/**
 * Writing the shared schema as a OneRoster 1.2 CSV package: exact 1.2.1 headers, every rostering
 * and gradebook file. Without `since` every file is bulk (only active rows; status and dateLastModified blank);
 * with `since` every file is delta: rows changed after that instant, tombstones included. Rows
 * are read page by page and written as they come, so memory stays flat.
 */

export interface ExportOptions {
  since?: Date;
}

type Item = Record<string, unknown>;

export interface FileSource {
  name: FileName;
  entity: EntityName;
  rows: (r: StoredRecord) => Item[];
}

/** Where each file's rows come from: an entity's records, or the roles / profiles inside users. */
export const fileSources: FileSource[] = [
  { name: 'orgs', entity: 'org', rows: (r) => [r.record] },
  { name: 'academicSessions', entity: 'academicSession', rows: (r) => [r.record] },
  { name: 'courses', entity: 'course', rows: (r) => [r.record] },
  { name: 'classes', entity: 'class', rows: (r) => [r.record] },
  { name: 'users', entity: 'user', rows: (r) => [r.record] },
  { name: 'roles', entity: 'user', rows: rolesOf },
  { name: 'userProfiles', entity: 'user', rows: profilesOf },
  { name: 'enrollments', entity: 'enrollment', rows: (r) => [r.record] },
  { name: 'demographics', entity: 'demographics', rows: (r) => [r.record] },
  { name: 'categories', entity: 'category', rows: (r) => [r.record] },
  { name: 'scoreScales', entity: 'scoreScale', rows: (r) => [r.record] },
  { name: 'lineItems', entity: 'lineItem', rows: (r) => [r.record] },
  { name: 'lineItemScoreScales', entity: 'lineItem', rows: (r) => scaleLinkOf(r, 'lineItemSourcedId') },
  { name: 'lineItemLearningObjectiveIds', entity: 'lineItem', rows: (r) => objectiveLinksOf(r, 'lineItemSourcedId') },
  { name: 'results', entity: 'result', rows: (r) => [r.record] },
  { name: 'resultScoreScales', entity: 'result', rows: (r) => scaleLinkOf(r, 'resultSourcedId') },
  { name: 'resultLearningObjectiveIds', entity: 'result', rows: (r) => objectiveLinksOf(r, 'resultSourcedId') },
];

/**
 * Link rows are not stored as rows (they are part of their lineItem or result), so their ids are
 * made from what they link: the same content always gets the same id.
 */
const linkId = (...parts: unknown[]) => `l-${createHash('sha1').update(parts.join('|')).digest('hex').slice(0, 20)}`;

function scaleLinkOf({ record, status }: StoredRecord, owner: string): Item[] {
  const scale = record.scoreScaleSourcedId;
  if (status !== 'active' || !scale) return [];
  return [{ sourcedId: linkId(record.sourcedId, 'scale', scale), [owner]: record.sourcedId, scoreScaleSourcedId: scale }];
}

function objectiveLinksOf({ record, status }: StoredRecord, owner: string): Item[] {
  if (status !== 'active') return [];
  return ((record.learningObjectiveSet as Item[] | undefined) ?? []).flatMap((set) => {
    const entries = (set.learningObjectiveIds ?? set.learningObjectiveResults) as unknown[];
    return entries.map((entry) => {
      const item = typeof entry === 'string' ? { learningObjectiveId: entry } : (entry as Item);
      return { ...item, sourcedId: linkId(record.sourcedId, set.source, item.learningObjectiveId), [owner]: record.sourcedId, source: set.source };
    });
  });
}

function rolesOf({ record, status }: StoredRecord): Item[] {
  if (status !== 'active') return [];
  const user = record.sourcedId as string;
  return ((record.roles as Item[] | undefined) ?? []).map((role) => ({
    ...role,
    // Roles that came from a source without role ids get a stable one from what they are.
    sourcedId: role.sourcedId ?? `r-${createHash('sha1').update(`${user}|${role.roleType}|${role.role}|${role.orgSourcedId}`).digest('hex').slice(0, 20)}`,
    userSourcedId: user,
  }));
}

function profilesOf({ record, status }: StoredRecord): Item[] {
  if (status !== 'active') return [];
  return ((record.userProfiles as Item[] | undefined) ?? []).map(({ profileId, credentials, ...profile }) => {
    // A CSV row holds one credential; the first is the one a consumer signs in with.
    const [first] = (credentials as { type: string; username: string }[] | undefined) ?? [];
    return { ...profile, sourcedId: profileId, userSourcedId: record.sourcedId, credentialType: first?.type, username: first?.username };
  });
}


/** A value as CSV text: objects (metadata values that are not strings) as JSON. */
const plainText = (value: unknown) => (value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));

function cell(value: unknown, column: Column): string {
  if (value === undefined || value === null || column.kind === 'dropped') return '';
  if (column.kind === 'list') return formatList(value as string[]);
  if (column.kind === 'userIds') return formatUserIds(value as { type: string; identifier: string }[]);
  if (column.kind === 'scoreScaleValue') return formatScoreScaleValue(value as { itemValueLHS: string; itemValueRHS: string }[]);
  if (column.kind === 'datetime') return new Date(value as string).toISOString();
  return plainText(value);
}

async function metadataKeys(orm: MikroORM, entity: EntityName, options: ExportOptions): Promise<string[]> {
  const where = options.since ? sql`date_last_modified > ${options.since}` : sql`status = 'active'`;
  const { rows } = await sql<{ k: string }>`select distinct jsonb_object_keys(metadata) as k from ${sql.table(entitySpec(entity).table)}
    where metadata is not null and jsonb_typeof(metadata) = 'object' and ${where} order by k`.execute(orm.em.fork().getKysely());
  return rows.map((r) => r.k);
}

/** A file's header line, with its extension columns. */
export const headerLine = (source: FileSource, extensions: readonly string[]) =>
  csvLine([...headerOf(files[source.name]), ...extensions.map((k) => `metadata.${k}`)]);

/** The CSV lines one stored record contributes to a file; delta files carry status and dateLastModified. */
export function csvRows(source: FileSource, stored: StoredRecord, extensions: readonly string[], delta: boolean): string {
  const file: CsvFile = files[source.name];
  let text = '';
  for (const row of source.rows(stored)) {
    const head = delta ? [row.sourcedId as string, stored.status, stored.dateLastModified] : [row.sourcedId as string, '', ''];
    const metadata = (row.metadata as Item | undefined) ?? {};
    text += csvLine([
      ...head,
      ...file.columns.map((c) => cell(row[c.field], c)),
      ...extensions.map((k) => plainText(metadata[k])),
    ]);
  }
  return text;
}

/** One file's CSV text, header first, a page of rows at a time. */
async function* fileText(orm: MikroORM, source: FileSource, options: ExportOptions): AsyncGenerator<string> {
  // Roles, profiles and link rows carry no extension columns of their own.
  const extensions = source.name === 'roles' || source.name === 'userProfiles' || files[source.name].owner ? [] : await metadataKeys(orm, source.entity, options);
  yield headerLine(source, extensions);
  for await (const page of scanRecords(orm.em.fork(), source.entity, { since: options.since })) {
    yield page.map((stored) => csvRows(source, stored, extensions, options.since !== undefined)).join('');
  }
}

/** The package's files in order, manifest first, each as a lazily produced text stream. */
export function packageFiles(orm: MikroORM, options: ExportOptions = {}): { name: string; text: () => AsyncIterable<string> }[] {
  const mode: FileMode = options.since ? 'delta' : 'bulk';
  return [
    { name: 'manifest.csv', text: async function* () { yield manifestText(mode); } },
    ...fileSources.map((s) => ({ name: files[s.name].fileName, text: () => fileText(orm, s, options) })),
  ];
}

/** manifest.csv of a package whose files all have `mode`. */
export const manifestText = (mode: FileMode) =>
  writeManifest(Object.fromEntries(fileSources.map((s) => [s.name, mode])) as Record<FileName, FileMode>).map(csvLine).join('');

export async function exportToDirectory(orm: MikroORM, dir: string, options: ExportOptions = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const f of packageFiles(orm, options)) {
    const out = createWriteStream(join(dir, f.name));
    for await (const text of f.text()) if (!out.write(text)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    written.push(f.name);
  }
  return written;
}

/** The package as a zip stream; entries are produced one after the other as the zip is read. */
export function exportZip(orm: MikroORM, options: ExportOptions = {}): Readable {
  const zip = new yazl.ZipFile();
  const mtime = new Date();
  for (const f of packageFiles(orm, options)) zip.addReadStream(Readable.from(f.text(), { objectMode: false }), f.name, { mtime });
  zip.end();
  return zip.outputStream as Readable;
}
