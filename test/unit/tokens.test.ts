import { describe, expect, test } from 'vitest';
import { TokenIssuer } from '../../src/auth/tokens.ts';

describe('access tokens', () => {
  const issuer = new TokenIssuer('k'.repeat(40), 60);

  test('a token round-trips its claims', async () => {
    const token = await issuer.issue('c1', ['a', 'b'], ['s1']);
    expect(await issuer.verify(token)).toMatchObject({ sub: 'c1', scope: 'a b', orgs: ['s1'], iss: 'rostergate' });
  });

  test('forged, tampered, foreign, expired or other-algorithm tokens are refused', async () => {
    const token = await issuer.issue('c1', ['a'], null);
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const reencode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect(await new TokenIssuer('x'.repeat(40), 60).verify(token)).toBeUndefined();
    expect(await issuer.verify(`${h}.${reencode({ ...claims, scope: 'admin' })}.${s}`)).toBeUndefined();
    expect(await issuer.verify(`${reencode({ alg: 'none', typ: 'JWT' })}.${p}.`)).toBeUndefined();
    expect(await issuer.verify(`${token}.x`)).toBeUndefined();
    expect(await issuer.verify('garbage')).toBeUndefined();
    const expired = await new TokenIssuer('k'.repeat(40), -10).issue('c1', ['a'], null);
    expect(await issuer.verify(expired)).toBeUndefined();
  });
});
