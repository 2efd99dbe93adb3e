import { fileURLToPath } from 'node:url';
import { defineConfig, MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities, routines, workingTables } from './entities.ts';

export const migrationsDir = fileURLToPath(new URL('../../migrations', import.meta.url));

export function ormConfig(clientUrl: string, options: { debug?: boolean; poolMax?: number } = {}) {
  return defineConfig({
    clientUrl,
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

export async function openOrm(clientUrl: string, options?: { debug?: boolean; poolMax?: number }) {
  return MikroORM.init(ormConfig(clientUrl, options));
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}

export type Orm = MikroORM;
