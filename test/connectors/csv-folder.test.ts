import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, chmodSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { connectors } from '../../connectors/index.ts';
import { SecretBox } from '../../src/auth/secret-box.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import { saveSource, syncSource, type SourceDeps } from '../../src/sync/sources.ts';
import { fixture, variant, zipOf } from '../support/csv.ts';
import { useTestDatabase } from '../support/db.ts';

const db = useTestDatabase({ fresh: true });
const deps = (): SourceDeps => ({
  orm: db.orm, box: new SecretBox(Buffer.alloc(32, 7)), connectors, config: loadConfig({ DATA_DIR: './data/test-csv-folder' }), logger: createLogger('silent'),
});

function dropFolder() {
  const dir = mkdtempSync(join(tmpdir(), 'rg-drop-'));
  chmodSync(dir, 0o755);
  return dir;
}
const drop = async (folder: string, name: string, packageDir: string, ageSeconds = 120) => {
  const target = join(folder, name);
  copyFileSync(await zipOf(packageDir), target);
  const when = new Date(Date.now() - ageSeconds * 1000);
  utimesSync(target, when, when);
  return target;
};
const source = (folder: string) => saveSource(deps(), { name: 'sis-drop', kind: 'csv-folder', settings: { folder, settleSeconds: 60 } });

describe('CSV drop folder', () => {
  test('imports the newest settled package, moves it to processed/ with its report, and never imports it twice', async () => {
    const folder = dropFolder();
    await source(folder);
    await drop(folder, 'monday.zip', fixture('bulk'));
    const first = await syncSource(deps(), 'sis-drop', 'schedule');
    expect(first).toMatchObject({ status: 'succeeded' });
    expect(readdirSync(folder).sort()).toEqual(['processed']);
    const processed = readdirSync(join(folder, 'processed')).sort();
    expect(processed).toEqual(expect.arrayContaining([expect.stringMatching(/monday\.zip$/), expect.stringMatching(/monday\.zip\.report\.csv$/), 'ledger.jsonl']));
    expect((await db.query(sql<{ n: number }>`select count(*)::int as n from "user"`))[0]!.n).toBe(4);
    expect(await syncSource(deps(), 'sis-drop', 'schedule')).toBeUndefined();

    // The same package dropped again is recognised by its content.
    await drop(folder, 'monday-again.zip', fixture('bulk'));
    expect(await syncSource(deps(), 'sis-drop', 'schedule')).toBeUndefined();
    expect(readdirSync(join(folder, 'skipped'))).toEqual([expect.stringMatching(/monday-again\.zip$/)]);
  });

  test('a package still being written waits; of several waiting, the newest wins', async () => {
    const folder = dropFolder();
    await source(folder);
    await drop(folder, 'fresh.zip', fixture('bulk'), 5);
    expect(await syncSource(deps(), 'sis-drop', 'schedule')).toBeUndefined();
    expect(existsSync(join(folder, 'fresh.zip'))).toBe(true);
    await drop(folder, 'old.zip', variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High', 'Old Name') }), 600);
    await drop(folder, 'new.zip', fixture('bulk'), 300);
    const run = await syncSource(deps(), 'sis-drop', 'schedule');
    expect(run).toMatchObject({ status: 'succeeded' });
    expect(readdirSync(join(folder, 'skipped'))).toEqual([expect.stringMatching(/old\.zip$/)]);
    expect((await db.query(sql<{ name: string }>`select name from org where sourced_id = 's1'`))[0]!.name).toBe('Springfield High');
  });

  test('an invalid package goes to failed/ with the report that says why, and nothing is written', async () => {
    const folder = dropFolder();
    await source(folder);
    await drop(folder, 'broken.zip', variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High,school', 'Springfield High,campus') }));
    const run = await syncSource(deps(), 'sis-drop', 'schedule');
    expect(run).toMatchObject({ status: 'invalid' });
    const failed = readdirSync(join(folder, 'failed'));
    const report = failed.find((f) => f.endsWith('.report.csv'))!;
    expect(readFileSync(join(folder, 'failed', report), 'utf8')).toContain('orgs.csv,3,org,s1,type,error,invalid_enum');
    expect(await db.query(sql`select 1 from org`)).toEqual([]);
  });

  test('a second run while one is under way (another gateway process) is refused before it touches the folder', async () => {
    const folder = dropFolder();
    await source(folder);
    await drop(folder, 'tuesday.zip', fixture('bulk'));
    // The first run stays under way until the test lets it go: it waits for the org table.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const tableLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.orm.em.fork().transactional(async (em) => {
      await sql`lock table org in access exclusive mode`.execute(em.getKysely());
      locked();
      await held;
    });
    await tableLocked;
    let started!: () => void;
    const underWay = new Promise<void>((resolve) => (started = resolve));
    const first = syncSource(deps(), 'sis-drop', 'schedule', undefined, () => started());
    try {
      await underWay;
      // A newer package arrives meanwhile: the refused run must neither take it nor move the one being imported.
      await drop(folder, 'wednesday.zip', variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High', 'Wednesday High') }), 90);
      await expect(syncSource(deps(), 'sis-drop', 'schedule')).rejects.toThrow(/another run of source 'sis-drop' is in progress/);
    } finally {
      release();
      await holder;
    }
    expect(await first).toMatchObject({ status: 'succeeded' });
    expect(readdirSync(folder).sort()).toEqual(['processed', 'wednesday.zip']);
    expect(readdirSync(join(folder, 'processed'))).toEqual(expect.arrayContaining([expect.stringMatching(/tuesday\.zip$/)]));
  });
});
