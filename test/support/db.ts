import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { openOrm, type Orm } from '../../src/db/orm.ts';

export const TEMPLATE_DB = 'rostergate_template';

export async function adminQuery(serverUrl: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  orm: Orm;
  url: string;
  /** Closes the ORM and drops the database. */
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own for one test file. */
/** A database of its own; `contextName` for a second gateway in the same process (see OrmOptions). */
export async function createTestDatabase(options: { contextName?: string } = {}): Promise<TestDatabase> {
  const serverUrl = inject('testServerUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  await adminQuery(serverUrl, `create database ${name} template ${TEMPLATE_DB}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const orm = await openOrm(url.toString(), options);
  return {
    orm,
    url: url.toString(),
    drop: async () => {
      await orm.close(true);
      await adminQuery(serverUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

/**
 * A database of this test file's own, made before its tests and dropped after them; with `fresh`,
 * emptied before each test, so every test starts from an empty gateway.
 */
export function useTestDatabase(options: { fresh?: boolean } = {}) {
  const handle = {
    db: undefined as unknown as TestDatabase,
    get orm() {
      return handle.db.orm;
    },
    get url() {
      return handle.db.url;
    },
    query: async <T,>(q: RawBuilder<T>) => (await q.execute(handle.db.orm.em.fork().getKysely())).rows,
  };
  beforeAll(async () => {
    handle.db = await createTestDatabase();
  });
  afterAll(async () => {
    await handle.db?.drop();
  });
  if (options.fresh) {
    beforeEach(async () => {
      await handle.query(sql`truncate org, academic_session, course, class, "user", user_role, user_profile, enrollment,
        demographics, sync_issue, sync_run, source, sync_seen, oneroster_cache, api_client restart identity cascade`);
    });
  }
  return handle;
}
