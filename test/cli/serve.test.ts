import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, expect, test } from 'vitest';
import { fixture, variant, zipOf } from '../support/csv.ts';
import { useTestDatabase } from '../support/db.ts';

const cli = join(process.cwd(), 'src/cli/main.ts');

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

function start(args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal }));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function waitFor(url: string, child: ChildProcess, seconds = 30) {
  for (let i = 0; i < seconds * 10; i++) {
    if (child.exitCode !== null) throw new Error(`exited early with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return res;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer in ${seconds}s`);
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('npm start with no database configured', () => {
  const dataDir = join(process.cwd(), 'data', `test-cli-${randomBytes(4).toString('hex')}`);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test('starts an embedded PostgreSQL, serves, keeps its data and admin token, and shuts down cleanly', { timeout: 120_000 }, async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const env = { DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(pgPort) };

    const first = start(['serve'], env);
    const health = await waitFor(`http://127.0.0.1:${port}/healthz`, first.child);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const token = /rga_[A-Za-z0-9_-]+/.exec(first.out())?.[0];
    expect(token).toBeDefined();
    const runs = await fetch(`http://127.0.0.1:${port}/admin/runs`, { headers: { Authorization: `Bearer ${token}` } });
    expect(runs.status).toBe(200);

    first.child.kill('SIGINT');
    await first.exited;
    expect(await portOpen(pgPort)).toBe(false);
    expect(await portOpen(port)).toBe(false);
    expect(first.out()).not.toContain('"level":"error"');

    // Second start: same data, same token, and the token is not printed again.
    const second = start(['serve'], env);
    await waitFor(`http://127.0.0.1:${port}/readyz`, second.child);
    expect(second.out()).not.toContain('rga_');
    const again = await fetch(`http://127.0.0.1:${port}/admin/runs`, { headers: { Authorization: `Bearer ${token}` } });
    expect(again.status).toBe(200);
    second.child.kill('SIGTERM');
    await second.exited;
    expect(await portOpen(pgPort)).toBe(false);
  });
});

describe('with DATABASE_URL', () => {
  const db = useTestDatabase();

  test('serves against the server and exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const server = start(['serve'], { DATABASE_URL: db.url, ADMIN_TOKEN: 'x'.repeat(40), TOKEN_SIGNING_KEY: 'k'.repeat(40), SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), PORT: String(port) });
    await waitFor(`http://127.0.0.1:${port}/readyz`, server.child);
    server.child.kill('SIGTERM');
    expect(await server.exited, `${server.out()}\n${server.err()}`).toEqual({ code: 0, signal: null });
    expect(server.out()).toContain('"msg":"shutting down"');
  });

  test('refuses to start without TOKEN_SIGNING_KEY, naming it', async () => {
    const run = start(['serve'], { DATABASE_URL: db.url, ADMIN_TOKEN: 'x'.repeat(40) });
    expect((await run.exited).code).toBe(2);
    expect(run.err()).toContain('TOKEN_SIGNING_KEY');
  });

  test('refuses to start without ADMIN_TOKEN, naming it', async () => {
    const run = start(['serve'], { DATABASE_URL: db.url });
    expect((await run.exited).code).toBe(2);
    expect(run.err()).toContain('ADMIN_TOKEN');
  });

  test('runs list prints JSON', async () => {
    const run = start(['runs', 'list'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
    expect((await run.exited).code).toBe(0);
    expect(JSON.parse(run.out())).toEqual({ runs: [], total: 0 });
  });

  test('runs approve of a missing run exits 2 with the reason', async () => {
    const run = start(['runs', 'approve', '42'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
    expect((await run.exited).code).toBe(2);
    expect(run.err()).toContain('run 42 does not exist');
  });
});

describe('import and export', () => {
  const db = useTestDatabase();
  const env = () => ({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

  test('a dry run, an import with its summary table, and an export that imports unchanged', { timeout: 60_000 }, async () => {
    const dry = start(['import', fixture('bulk'), '--dry-run'], env());
    expect((await dry.exited).code).toBe(0);
    expect(dry.out()).toContain('Valid: a dry run, nothing was written.');
    const real = start(['import', fixture('bulk'), '--source', 'sis'], env());
    expect((await real.exited).code).toBe(0);
    expect(real.out()).toMatch(/\| user \| 4 \| 0 \| 0 \| 0 \| 0 \|/);
    expect(real.err()).toMatch(/users\.csv\s+4 rows/);
    const zip = join(mkdtempSync(join(tmpdir(), 'rg-cli-')), 'out.zip');
    expect((await start(['export', zip], env()).exited).code).toBe(0);
    const again = start(['import', zip, '--source', 'sis'], env());
    expect((await again.exited).code).toBe(0);
    expect(again.out()).toMatch(/\| user \| 0 \| 0 \| 4 \| 0 \| 0 \|/);
  });

  test('an invalid package exits 1 and lists the error with file and line', async () => {
    const run = start(['import', variant('bulk', { 'orgs.csv': (t) => t.replace('Springfield High,school', 'Springfield High,campus') })], env());
    expect((await run.exited).code).toBe(1);
    expect(run.out()).toContain('orgs.csv:3  type: type must be one of');
  });

  test('in embedded mode too, an invalid package exits 1', { timeout: 60_000 }, async () => {
    const dataDir = join(process.cwd(), 'data', `test-cli-${randomBytes(4).toString('hex')}`);
    try {
      const run = start(['import', '/nonexistent.zip'], { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'silent' });
      expect((await run.exited).code).toBe(1);
      expect(run.out()).toContain('package_not_found');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('clients', () => {
  const db = useTestDatabase();
  const env = () => ({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

  test('create prints the secret once; list never shows it; revoke; unknown scopes are refused', { timeout: 60_000 }, async () => {
    const created = start(['clients', 'create', '--name', 'SDS', '--scopes', 'roster,roster-demographics', '--orgs', 's1'], env());
    expect((await created.exited).code).toBe(0);
    const id = /client_id:\s+(\S+)/.exec(created.out())![1]!;
    const secret = /client_secret:\s+(\S+)/.exec(created.out())![1]!;
    const listed = start(['clients', 'list'], env());
    expect((await listed.exited).code).toBe(0);
    const clients = JSON.parse(listed.out()) as { clientId: string; scopes: string[]; orgs: string[] }[];
    expect(clients).toEqual([expect.objectContaining({ clientId: id, name: 'SDS', orgs: ['s1'], revokedAt: null })]);
    expect(clients[0]!.scopes).toContain('https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly');
    expect(listed.out()).not.toContain(secret);
    expect((await start(['clients', 'revoke', id], env()).exited).code).toBe(0);
    const bad = start(['clients', 'create', '--name', 'x', '--scopes', 'everything'], env());
    expect((await bad.exited).code).toBe(2);
    expect(bad.err()).toContain("unknown scope 'everything'");
  });
});

describe('sources', () => {
  const db = useTestDatabase();
  const env = () => ({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', SECRETS_KEY: Buffer.alloc(32, 2).toString('base64') });

  test('add a drop folder, run it with nothing waiting, then with a package; list shows the last run', { timeout: 60_000 }, async () => {
    const folder = mkdtempSync(join(tmpdir(), 'rg-cli-drop-'));
    const added = start(['sources', 'add', '--name', 'drop', '--kind', 'csv-folder', '--settings', JSON.stringify({ folder, settleSeconds: 0 }), '--schedule', '*/15 * * * *'], env());
    expect((await added.exited).code).toBe(0);
    expect(JSON.parse(added.out())).toMatchObject({ name: 'drop', schedule: '*/15 * * * *' });
    const idle = start(['sources', 'run', 'drop'], env());
    expect((await idle.exited).code).toBe(0);
    expect(idle.out()).toContain('Nothing to do');
    copyFileSync(await zipOf(fixture('bulk')), join(folder, 'roster.zip'));
    const run = start(['sources', 'run', 'drop'], env());
    expect((await run.exited).code).toBe(0);
    expect(run.out()).toContain('Imported.');
    const listed = start(['sources', 'list'], env());
    expect((await listed.exited).code).toBe(0);
    expect(JSON.parse(listed.out())[0].lastRun.status).toBe('succeeded');
    const missing = start(['sources', 'run', 'nope'], env());
    expect((await missing.exited).code).toBe(2);
  });

  test('with DATABASE_URL and no SECRETS_KEY, sources refuse to start, naming it', async () => {
    const run = start(['sources', 'list'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
    expect((await run.exited).code).toBe(2);
    expect(run.err()).toContain('SECRETS_KEY');
  });
});

describe('bad invocations', () => {
  test('a bad variable is named, and nothing starts', async () => {
    const run = start(['serve'], { PORT: 'eighty', EMBEDDED_PG_PORT: '5432' });
    expect((await run.exited).code).toBe(2);
    expect(run.err()).toContain('PORT:');
    expect(run.err()).toContain('EMBEDDED_PG_PORT: must not be 5432');
  });

  test('db:reset refuses without --yes when nobody can answer', async () => {
    const dataDir = join(process.cwd(), 'data', `test-reset-${randomBytes(4).toString('hex')}`);
    const { mkdirSync, existsSync } = await import('node:fs');
    mkdirSync(join(dataDir, 'postgres'), { recursive: true });
    const refused = start(['db:reset'], { DATA_DIR: dataDir });
    expect((await refused.exited).code).toBe(2);
    expect(refused.err()).toContain('--yes');
    expect(existsSync(join(dataDir, 'postgres'))).toBe(true);
    const done = start(['db:reset', '--yes'], { DATA_DIR: dataDir });
    expect((await done.exited).code).toBe(0);
    expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('an unknown command prints usage', async () => {
    const run = start(['frobnicate'], {});
    expect((await run.exited).code).toBe(2);
    expect(run.err()).toContain('Usage: rostergate');
  });
});
