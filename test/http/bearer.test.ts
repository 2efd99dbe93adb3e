import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { bearerAuthenticator } from '../../src/auth/bearer.ts';
import { createClient } from '../../src/auth/clients.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  vi.useRealTimers();
  await db?.drop();
});

test('a verified token is remembered only until it expires', async () => {
  const issuer = new TokenIssuer('k'.repeat(40), 60);
  const client = await createClient(db.orm, { name: 'c', scopes: ['roster'] });
  const authenticate = bearerAuthenticator(db.orm, issuer, 3600);
  const token = await issuer.issue(client.clientId, ['roster'], null);
  const caller = await authenticate(`Bearer ${token}`);
  expect(caller).toMatchObject({ clientId: client.clientId, scopes: new Set(['roster']) });
  expect(await authenticate(`Bearer ${token}`)).toBe(caller);
  // A forged token that differs in its signature only is not taken for the remembered one.
  expect(await authenticate(`Bearer ${token.slice(0, -2)}xx`)).toBeUndefined();
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 61_000);
  expect(await authenticate(`Bearer ${token}`)).toBeUndefined();
  vi.useRealTimers();
});
