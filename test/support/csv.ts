import { chmodSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';

/** Path of a CSV package under test/fixtures/csv. */
export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/csv/${name}`, import.meta.url));

/** Edits to a package: a file's new content, a function of its old content, or null to remove it. */
export type Edits = Record<string, string | ((old: string) => string) | null>;

/** A copy of a fixture package with some files changed, in a fresh temp folder. */
export function variant(base: string, edits: Edits): string {
  const dir = mkdtempSync(join(tmpdir(), 'rg-csv-'));
  chmodSync(dir, 0o755);
  cpSync(fixture(base), dir, { recursive: true });
  for (const [name, edit] of Object.entries(edits)) {
    const path = join(dir, name);
    if (edit === null) rmSync(path);
    else writeFileSync(path, typeof edit === 'string' ? edit : edit(readFileSync(path, 'utf8')));
  }
  return dir;
}

/** Replaces line `n` (1-based) of a CSV text. */
export const replaceLine = (n: number, line: string) => (text: string) => {
  const lines = text.split('\n');
  lines[n - 1] = line;
  return lines.join('\n');
};

/** Zips a folder's files (or the given entries) into a temp .zip; returns its path. */
export async function zipOf(dir: string, names: Record<string, string> = {}): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'rg-zip-')), 'package.zip');
  const zip = new yazl.ZipFile();
  for (const file of readdirSync(dir)) zip.addFile(join(dir, file), names[file] ?? file);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  writeFileSync(out, Buffer.concat(chunks));
  return out;
}
