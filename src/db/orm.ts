import { fileURLToPath } from 'node:url';
import { defineConfig, MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities, routines, workingTables } from './entities.ts';

export const migrationsDir = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface OrmOptions {
  debug?: boolean;
  poolMax?: number;
  readUrl?: string;
  /**
   * MikroORM's async-context name. Two ORMs in one process (a test's upstream gateway) need their
   * own: otherwise work inside one's transaction that reaches the other resolves `orm.em` to the first.
   */
  contextName?: string;
}

export function ormConfig(clientUrl: string, options: OrmOptions = {}) {
  return defineConfig({
    clientUrl,
    ...(options.contextName ? { contextName: options.contextName } : {}),
    // Reads that ask for the read side (the OneRoster API) go to a replica when one is configured.
    ...(options.readUrl ? { replicas: [{ name: 'read', clientUrl: options.readUrl }] } : {}),
    entities,
    routines,
    extensions: [Migrator],
    debug: options.debug ?? false,
    pool: { min: 0, max: options.poolMax ?? 10 },
    // Schema changes go through reviewed migrations only.
    ensureDatabase: false,
    schemaGenerator: { skipTables: workingTables },
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      glob: '!(*.d).ts',
      emit: 'ts',
      tableName: 'mikro_orm_migrations',
      silent: true,
      snapshot: false,
    },
  });
}

export async function openOrm(clientUrl: string, options?: OrmOptions) {
  return MikroORM.init(ormConfig(clientUrl, options));
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}

export type Orm = MikroORM;
