import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbedded } from '../src/db/embedded.ts';

/**
 * Where no Docker engine runs, checks what the image would hold and do (the Dockerfile's runtime
 * stage): the production dependencies from the lockfile (`npm ci --omit=dev --ignore-scripts`), the
 * folders the stage copies (read from the Dockerfile, so the two cannot drift), started as its CMD
 * starts them with its ENV and the settings it requires, as an unprivileged user; its HEALTHCHECK
 * must pass and SIGTERM must stop it cleanly. Node is this checkout's pinned Node 24, as in the image.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const copied = [...runtime.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
const env = Object.fromEntries([...runtime.matchAll(/^ENV (.+)$/gm)].flatMap((m) => m[1]!.split(/\s+/).map((kv) => kv.split('=') as [string, string])));
const cmd = JSON.parse(/^CMD (\[.+\])$/m.exec(runtime)![1]!) as string[];
const healthcheck = /^HEALTHCHECK .*CMD node -e "(.+)"$/m.exec(runtime)![1]!;

// Not a mkdtemp folder: the unprivileged user and PostgreSQL's must be able to read it.
const work = join(tmpdir(), `rostergate-image-check-${process.pid}`);
rmSync(work, { recursive: true, force: true });
const app = join(work, 'app');
mkdirSync(app, { recursive: true, mode: 0o755 });
chmodSync(work, 0o755);
// The image's Node; a copy, so the unprivileged user can run it wherever this checkout lives.
const node = join(work, 'node');
cpSync(process.execPath, node);
chmodSync(node, 0o755);
for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(app, file));
const install = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, stdio: 'inherit' });
if (install.status !== 0) throw new Error('npm ci --omit=dev failed');
for (const path of copied) cpSync(join(root, path), join(app, path), { recursive: true });

const freePort = async () => {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
};

const db = await startEmbedded({ dir: join(work, 'postgres'), port: await freePort(), persistent: false, onLog: () => {} });
let failure: unknown;
try {
  await db.createDatabase('image');
  const port = await freePort();
  // As in the image, the gateway's user may write only its data folder (when this runs as root: nobody).
  const asRoot = process.getuid?.() === 0;
  const dataDir = join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o777);
  const child = spawn(node, cmd.slice(1), {
    cwd: app,
    env: {
      PATH: process.env.PATH, ...env, PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: db.url('image'),
      ADMIN_TOKEN: 'i'.repeat(40), TOKEN_SIGNING_KEY: 'k'.repeat(40), SECRETS_KEY: Buffer.alloc(32, 9).toString('base64'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  const exited = once(child, 'exit');
  let healthy = false;
  for (let i = 0; i < 600 && !healthy; i++) {
    const check = spawnSync(node, ['-e', healthcheck], { env: { PORT: String(port) } });
    healthy = check.status === 0;
    if (!healthy) await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  if (!healthy) throw new Error('the image\'s HEALTHCHECK never passed');
  if (code !== 0) throw new Error(`the gateway exited ${code} on SIGTERM`);
  console.log(`image check: ${copied.join(", ")} with production dependencies, run as ${asRoot ? "nobody" : "this user"}: healthy, stopped cleanly`);
} catch (error) {
  failure = error;
} finally {
  await db.stop();
  rmSync(work, { recursive: true, force: true });
}
if (failure) throw failure;
