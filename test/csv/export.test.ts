import { mkdtempSync, readFileSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import Papa from 'papaparse';
import { describe, expect, test } from 'vitest';
import { exportToDirectory, exportZip } from '../../standards/oneroster/csv/export.ts';
import { files, headerOf } from '../../standards/oneroster/csv/files.ts';
import { importPackage, type ImportOptions } from '../../standards/oneroster/csv/import.ts';
import { useTestDatabase } from '../support/db.ts';
import { fixture } from '../support/csv.ts';

const db = useTestDatabase({ fresh: true });
const query = db.query;

const limits = { maxEntries: 64, maxFileBytes: 10_000_000, maxTotalBytes: 50_000_000 };
const load = (path: string, extra: Partial<ImportOptions> = {}) =>
  importPackage(db.orm, path, { source: 'sis', holdShare: 0.3, batchSize: 1000, limits, ...extra });

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'rg-export-'));
  chmodSync(dir, 0o755);
  return dir;
}

const parse = (path: string) => Papa.parse<string[]>(readFileSync(path, 'utf8').trim(), { delimiter: ',' }).data;

/**
 * A file's rows keyed by sourcedId, with what the gateway does not keep blanked: passwords, and the
 * ids of link rows (lineItemScoreScales.csv, …), which are part of their lineItem or result and
 * keyed by what they link instead.
 */
function normalised(path: string) {
  const [header, ...rows] = parse(path);
  const link = Object.values(files).some((f) => f.fileName === path.split('/').pop() && f.owner);
  const blank = new Set(['password', 'resourceSourcedIds', ...(link ? ['sourcedId'] : [])]);
  const row = (r: string[]) => Object.fromEntries(header!.map((h, i) => [h, blank.has(h) ? '' : r[i]]));
  return { header, rows: Object.fromEntries(rows.map((r) => [link ? JSON.stringify(row(r)) : r[0], row(r)])) };
}

describe('CSV export', () => {
  test('export(import(p)) equals p, file by file, after normalisation', async () => {
    expect((await load(fixture('bulk'))).status).toBe('succeeded');
    const out = tempDir();
    await exportToDirectory(db.orm, out);
    expect(readdirSync(out).sort()).toEqual([...readdirSync(fixture('bulk'))].sort());
    for (const name of readdirSync(fixture('bulk')).filter((n) => n !== 'manifest.csv')) {
      expect(normalised(join(out, name)), name).toEqual(normalised(join(fixture('bulk'), name)));
    }
    const manifest = Object.fromEntries(parse(join(out, 'manifest.csv')).slice(1));
    expect(manifest).toMatchObject({ 'manifest.version': '1.0', 'oneroster.version': '1.2', 'file.users': 'bulk', 'file.roles': 'bulk', 'file.lineItems': 'bulk', 'file.resources': 'absent' });
  });

  test('import(export(x)) changes nothing', async () => {
    await load(fixture('bulk'));
    const out = tempDir();
    await exportToDirectory(db.orm, out);
    const again = await load(out);
    expect(again.status).toBe('succeeded');
    for (const [entity, c] of Object.entries(again.counts)) expect(c.created + c.updated + c.tombstoned, entity).toBe(0);
  });

  test('a bulk export has exact 1.2.1 headers and blank status and dateLastModified', async () => {
    await load(fixture('bulk'));
    const out = tempDir();
    await exportToDirectory(db.orm, out);
    const [header, ...rows] = parse(join(out, 'enrollments.csv'));
    expect(header).toEqual(headerOf(files.enrollments));
    expect(rows.every((r) => r[1] === '' && r[2] === '')).toBe(true);
  });

  test('with since, every file is delta: changed rows and tombstones, stamped', async () => {
    await load(fixture('bulk'));
    const since = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await load(fixture('delta'), { holdShare: 0.5 });
    const out = tempDir();
    await exportToDirectory(db.orm, out, { since });
    const manifest = Object.fromEntries(parse(join(out, 'manifest.csv')).slice(1));
    expect(manifest['file.enrollments']).toBe('delta');
    const enrollments = parse(join(out, 'enrollments.csv')).slice(1).map((r) => [r[0], r[1]]);
    expect(enrollments).toEqual([['e3', 'tobedeleted'], ['e4', 'active']]);
    expect(parse(join(out, 'orgs.csv')).slice(1).map((r) => r[0])).toEqual(['s2']);
    expect(parse(join(out, 'orgs.csv'))[1]![2]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test('the zip form imports like the folder', async () => {
    await load(fixture('bulk'));
    const path = join(tempDir(), 'export.zip');
    const chunks: Buffer[] = [];
    for await (const chunk of exportZip(db.orm)) chunks.push(chunk as Buffer);
    writeFileSync(path, Buffer.concat(chunks));
    const again = await load(path);
    expect(again.status).toBe('succeeded');
    expect(again.counts.user!.unchanged).toBe(4);
  });
});
