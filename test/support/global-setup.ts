import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbedded, type EmbeddedDatabase } from '../../src/db/embedded.ts';
import { migrate, openOrm } from '../../src/db/orm.ts';
import { adminQuery, TEMPLATE_DB } from './db.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL (database part ignored) where test files create their own databases. */
    testServerUrl: string;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * One PostgreSQL for the whole run: embedded (on a free port) unless TEST_DATABASE_URL names a
 * server. The schema is migrated once into a template database that each test file copies.
 */
export default async function setup(project: TestProject) {
  let embedded: EmbeddedDatabase | undefined;
  let serverUrl = process.env.TEST_DATABASE_URL;
  const dir = join(process.cwd(), 'data', `test-${process.pid}`);
  if (!serverUrl) {
    mkdirSync(dir, { recursive: true });
    embedded = await startEmbedded({ dir, port: await freePort(), persistent: false });
    serverUrl = embedded.url('postgres');
  }
  await adminQuery(serverUrl, `drop database if exists ${TEMPLATE_DB}`);
  await adminQuery(serverUrl, `create database ${TEMPLATE_DB}`);
  const url = new URL(serverUrl);
  url.pathname = `/${TEMPLATE_DB}`;
  const orm = await openOrm(url.toString());
  await migrate(orm);
  await orm.close();
  project.provide('testServerUrl', serverUrl);

  return async () => {
    await embedded?.stop();
    // This run's database, and the data folders its gateways and connectors used (./data/test-…).
    for (const name of readdirSync(join(process.cwd(), 'data'))) {
      if (name.startsWith('test-')) rmSync(join(process.cwd(), 'data', name), { recursive: true, force: true });
    }
  };
}
