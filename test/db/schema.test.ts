import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { entitySpecs } from '../../src/sync/entities.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

test('the migrations produce exactly the schema the entities describe', async () => {
  const diff = await db.orm.schema.getUpdateSchemaSQL({ wrap: false });
  expect(diff.trim()).toBe('');
});

test('every field the reconcile engine writes is a column of its table', () => {
  const tables = new Map(
    [...db.orm.getMetadata().getAll().values()].map((meta) => [
      meta.tableName,
      new Set(Object.values(meta.properties).flatMap((p) => p.fieldNames ?? [])),
    ]),
  );
  for (const spec of entitySpecs) {
    const columns = tables.get(spec.table);
    expect(columns, spec.table).toBeDefined();
    for (const c of spec.columns) expect(columns!.has(c), `${spec.table}.${c}`).toBe(true);
    for (const child of spec.children) {
      const childColumns = tables.get(child.table)!;
      for (const c of ['user_sourced_id', ...child.columns]) expect(childColumns.has(c), `${child.table}.${c}`).toBe(true);
    }
  }
});

test('the trigger functions in the database are the ones the entities declare', async () => {
  // The schema diff does not compare trigger bodies: a migration that changes one must say so itself.
  const declared = [...db.orm.getMetadata().getAll().values()].flatMap((meta) => (meta.triggers ?? [])
    .map((t) => (typeof t.expression === 'string' ? /create function (\w+)\(\) returns trigger language plpgsql as \$\$([\s\S]*?)\$\$;/.exec(t.expression) : null))
    .filter((m): m is RegExpExecArray => m !== null));
  expect(declared.length).toBeGreaterThan(0);
  const { rows } = await sql<{ name: string; body: string }>`select proname as name, prosrc as body from pg_proc
    where proname = any(${declared.map((m) => m[1]!)}::text[])`.execute(db.orm.em.fork().getKysely());
  const inDatabase = new Map(rows.map((r) => [r.name, r.body.replace(/\s+/g, ' ').trim()]));
  for (const [, name, body] of declared) expect(inDatabase.get(name!), name).toBe(body!.replace(/\s+/g, ' ').trim());
});
