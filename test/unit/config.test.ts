import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { storedAdminCredential, adminTokenFile } from '../../src/auth/admin-token.ts';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { Shutdown } from '../../src/lifecycle.ts';

test('defaults need no environment at all', () => {
  const config = loadConfig({});
  expect(config).toMatchObject({ PORT: 8080, EMBEDDED_PG_PORT: 25432, SYNC_HOLD_SHARE: 0.3, LOG_LEVEL: 'info' });
  expect(config.DATABASE_URL).toBeUndefined();
});

test('every bad variable is named in one error', () => {
  const attempt = () => loadConfig({ PORT: '0', DATABASE_URL: 'mysql://x', SYNC_HOLD_SHARE: '2', ADMIN_TOKEN: 'short' });
  expect(attempt).toThrow(ConfigError);
  const message = (() => { try { attempt(); } catch (e) { return (e as Error).message; } return ''; })();
  for (const name of ['PORT', 'DATABASE_URL', 'SYNC_HOLD_SHARE', 'ADMIN_TOKEN']) expect(message).toContain(`${name}:`);
});

test('empty variables count as unset', () => {
  expect(loadConfig({ DATABASE_URL: '', PORT: '' }).PORT).toBe(8080);
});

test('the admin token is stored only as a hash, owner-readable, and verifies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-token-'));
  const { credential, created } = storedAdminCredential(dir);
  expect(created).toMatch(/^rga_/);
  const stored = readFileSync(adminTokenFile(dir), 'utf8');
  expect(stored).not.toContain(created);
  expect(stored.trim()).toMatch(/^[0-9a-f]{64}$/);
  expect(statSync(adminTokenFile(dir)).mode & 0o077).toBe(0);
  expect(credential.verify(created!)).toBe(true);
  expect(credential.verify(`${created}x`)).toBe(false);
  const reloaded = storedAdminCredential(dir);
  expect(reloaded.created).toBeUndefined();
  expect(reloaded.credential.verify(created!)).toBe(true);
  const rotated = storedAdminCredential(dir, { rotate: true });
  expect(storedAdminCredential(dir).credential.verify(created!)).toBe(false);
  expect(storedAdminCredential(dir).credential.verify(rotated.created!)).toBe(true);
});

test('shutdown runs each step once, last registered first, past a failing step', async () => {
  const order: string[] = [];
  const errors: string[] = [];
  const shutdown = new Shutdown((name) => errors.push(name));
  shutdown.add('database', async () => void order.push('database'));
  shutdown.add('orm', async () => {
    order.push('orm');
    throw new Error('boom');
  });
  shutdown.add('http', async () => void order.push('http'));
  await Promise.all([shutdown.run(), shutdown.run()]);
  expect(order).toEqual(['http', 'orm', 'database']);
  expect(errors).toEqual(['orm']);
});

test('the README documents every variable with its default and meaning', async () => {
  const { configSchema } = await import('../../src/config/config.ts');
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  for (const [name, schema] of Object.entries(configSchema.shape)) {
    const fallback = (schema as { def: { defaultValue?: unknown } }).def.defaultValue;
    const row = `| \`${name}\` | ${fallback === undefined ? '—' : `\`${fallback}\``} | ${schema.description} |`;
    expect(readme, name).toContain(row);
  }
});
