import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { packageLimits } from '../../src/config/config.ts';
import type { Connector, SyncContext } from '../../src/sync/connector.ts';
import { issueReport } from '../../src/sync/runs.ts';
import { openPackageRead } from '../../standards/oneroster/csv/import.ts';

/**
 * The CSV drop folder: a SIS drops OneRoster packages (zip files or package folders) into a folder;
 * each run imports the newest one that has stopped changing, all or nothing, then moves it to
 * `processed/` (or `failed/`) with its report beside it. Older waiting packages are superseded (moved
 * to `skipped/`): the folder is meant for bulk packages. A ledger of content hashes keeps a package
 * dropped again from being imported twice.
 */

const settings = z.object({
  folder: z.string().min(1).describe('Folder the SIS drops packages into'),
  settleSeconds: z.coerce.number().int().min(0).default(60).describe('A package counts as complete once unchanged for this long'),
});

const SUBFOLDERS = new Set(['processed', 'failed', 'skipped']);

interface Candidate { name: string; path: string; mtime: number; dir: boolean }

async function candidates(folder: string): Promise<Candidate[]> {
  const found: Candidate[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SUBFOLDERS.has(entry.name)) continue;
    const path = join(folder, entry.name);
    if (entry.isFile() && entry.name.toLowerCase().endsWith('.zip')) found.push({ name: entry.name, path, mtime: (await stat(path)).mtimeMs, dir: false });
    if (entry.isDirectory()) {
      const files = await readdir(path);
      if (!files.includes('manifest.csv')) continue;
      // A folder is as recent as its most recently written file.
      const times = await Promise.all(files.map(async (f) => (await stat(join(path, f))).mtimeMs));
      found.push({ name: entry.name, path, mtime: Math.max((await stat(path)).mtimeMs, ...times), dir: true });
    }
  }
  return found.sort((a, b) => b.mtime - a.mtime);
}

/** A package's content hash: the zip's bytes, or a folder's files in name order. */
async function fingerprint(c: Candidate): Promise<string> {
  const hash = createHash('sha256');
  const files = c.dir ? (await readdir(c.path)).sort().map((f) => join(c.path, f)) : [c.path];
  for (const file of files) {
    hash.update(`${file.slice(c.path.length)}\0`);
    await pipeline(createReadStream(file), async function* (chunks) {
      for await (const chunk of chunks) hash.update(chunk as Buffer);
    });
  }
  return hash.digest('hex');
}

const ledgerFile = (folder: string) => join(folder, 'processed', 'ledger.jsonl');

async function ledger(folder: string): Promise<Map<string, number>> {
  const text = await readFile(ledgerFile(folder), 'utf8').catch(() => '');
  return new Map(text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { sha256: string; runId: number }).map((e) => [e.sha256, e.runId]));
}

/** Moves a package into a subfolder, never over an earlier one of the same name. */
async function moveTo(folder: string, sub: string, c: Candidate): Promise<string> {
  await mkdir(join(folder, sub), { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const target = join(folder, sub, `${stamp}-${c.name}`);
  await rename(c.path, target);
  return target;
}

export const csvFolder: Connector = {
  kind: 'csv-folder',
  settings,
  secrets: [],

  async test(ctx: SyncContext) {
    const { folder } = settings.parse(ctx.settings);
    const waiting = await candidates(folder);
    return `${folder} is readable; ${waiting.length} package(s) waiting`;
  },

  async open(ctx: SyncContext) {
    const { folder, settleSeconds } = settings.parse(ctx.settings);
    const settled = (await candidates(folder)).filter((c) => Date.now() - c.mtime >= settleSeconds * 1000);
    const [newest, ...older] = settled;
    if (!newest) return undefined;
    for (const c of older) {
      const moved = await moveTo(folder, 'skipped', c);
      ctx.logger.warn('package superseded by a newer one', { source: ctx.source.name, package: c.name, movedTo: moved, newer: newest.name });
    }
    const sha256 = await fingerprint(newest);
    const seen = (await ledger(folder)).get(sha256);
    if (seen !== undefined) {
      const moved = await moveTo(folder, 'skipped', newest);
      ctx.logger.warn('package already imported', { source: ctx.source.name, package: newest.name, runId: seen, movedTo: moved });
      return undefined;
    }
    const read = await openPackageRead(ctx.orm, newest.path, { source: ctx.source.name, batchSize: ctx.config.SYNC_BATCH_SIZE, limits: packageLimits(ctx.config) });
    return {
      batches: read.batches,
      complete: () => read.scope,
      atomic: true,
      async finished(summary) {
        await read.close();
        const ok = summary && ['succeeded', 'partial', 'held'].includes(summary.status);
        const moved = await moveTo(folder, ok ? 'processed' : 'failed', newest);
        if (summary) await pipeline(Readable.from(issueReport(ctx.orm, summary.runId)), createWriteStream(`${moved}.report.csv`));
        if (ok) await appendFile(ledgerFile(folder), `${JSON.stringify({ sha256, runId: summary!.runId, package: newest.name, at: new Date().toISOString() })}\n`);
      },
    };
  },
};
