import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

/**
 * A OneRoster CSV package: a zip or a directory of CSV files, no subfolders. Entries are checked
 * against the limits before anything is read (count, each file's size, the total), names must be
 * plain file names, and zip entries are read as streams whose real size must match what the zip
 * declares, so a zip bomb or a path traversal fails before it costs anything.
 */

export interface PackageLimits {
  maxEntries: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

export interface CsvPackage {
  /** Entry names with their (uncompressed) sizes. */
  entries: Map<string, number>;
  open(name: string): Promise<Readable>;
  close(): Promise<void>;
}

export class PackageError extends Error {
  readonly code: string;
  /** The package entry it concerns, if one. */
  readonly file?: string;
  constructor(code: string, message: string, file?: string) {
    super(message);
    this.code = code;
    this.file = file;
  }
}

export async function openPackage(path: string, limits: PackageLimits): Promise<CsvPackage> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new PackageError('package_not_found', `no file or directory at ${path}`);
  return info.isDirectory() ? openDirectory(path, limits) : openZip(path, limits);
}

function checkEntries(entries: Map<string, number>, limits: PackageLimits) {
  if (entries.size > limits.maxEntries) {
    throw new PackageError('too_many_entries', `the package has ${entries.size} entries; at most ${limits.maxEntries} are allowed`);
  }
  let total = 0;
  for (const [name, size] of entries) {
    if (size > limits.maxFileBytes) {
      throw new PackageError('file_too_large', `${name} is ${size} bytes uncompressed; at most ${limits.maxFileBytes} are allowed per file`);
    }
    total += size;
  }
  if (total > limits.maxTotalBytes) {
    throw new PackageError('package_too_large', `the package is ${total} bytes uncompressed; at most ${limits.maxTotalBytes} are allowed`);
  }
}

/** Plain names only: no folders, no `..`, nothing a file system could read as a path. */
function checkName(name: string) {
  if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..' || name.includes('\0')) {
    throw new PackageError('unsafe_entry_name', `entry ${JSON.stringify(name)} is not a plain file name; a package holds CSV files at its top level, without folders`);
  }
}

async function openDirectory(dir: string, limits: PackageLimits): Promise<CsvPackage> {
  const entries = new Map<string, number>();
  const names = await readdir(dir, { withFileTypes: true });
  if (names.length > limits.maxEntries) checkEntries(new Map(names.map((n) => [n.name, 0])), limits);
  for (const entry of names) {
    if (!entry.isFile()) throw new PackageError('unsafe_entry_name', `${entry.name} is not a regular file; a package holds CSV files at its top level, without folders`);
    entries.set(entry.name, (await stat(join(dir, entry.name))).size);
  }
  checkEntries(entries, limits);
  return {
    entries,
    // Large reads: fewer, bigger chunks for the parser to hand over.
    open: async (name) => createReadStream(join(dir, name), { highWaterMark: 1 << 20 }),
    close: async () => {},
  };
}

/** yauzl refuses traversal names itself (`../x`, `/etc/x`, `a\\b`); say so in our terms. */
function zipError(e: Error) {
  if (e instanceof PackageError) return e;
  if (/relative path|absolute path|invalid characters/i.test(e.message)) {
    return new PackageError('unsafe_entry_name', `the zip has an entry that is not a plain file name (${e.message}); a package holds CSV files at its top level, without folders`);
  }
  return new PackageError('not_a_zip', `the zip cannot be read: ${e.message}`);
}

async function openZip(path: string, limits: PackageLimits): Promise<CsvPackage> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: true }, (err, z) =>
      err ? reject(new PackageError('not_a_zip', `the upload is not a readable zip file (${err.message})`)) : resolve(z!)),
  );
  const found = new Map<string, yauzl.Entry>();
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        try {
          if (found.size >= limits.maxEntries) throw new PackageError('too_many_entries', `the package has more than ${limits.maxEntries} entries`);
          checkName(entry.fileName);
          if (found.has(entry.fileName)) throw new PackageError('duplicate_entry', `${entry.fileName} appears twice in the zip`);
          found.set(entry.fileName, entry);
          zip.readEntry();
        } catch (e) {
          reject(e);
        }
      });
      zip.on('end', () => resolve());
      zip.on('error', (e: Error) => reject(zipError(e)));
      zip.readEntry();
    });
    checkEntries(new Map([...found].map(([n, e]) => [n, e.uncompressedSize])), limits);
  } catch (e) {
    zip.close();
    throw e;
  }
  return {
    entries: new Map([...found].map(([n, e]) => [n, e.uncompressedSize])),
    open: (name) =>
      new Promise((resolve, reject) => {
        const entry = found.get(name);
        if (!entry) return reject(new PackageError('file_missing', `${name} is not in the package`));
        zip.openReadStream(entry, (err, stream) => (err ? reject(new PackageError('not_a_zip', `${name} cannot be read: ${err.message}`)) : resolve(stream!)));
      }),
    close: async () => zip.close(),
  };
}
