import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { HttpClient, HttpError, linkNext } from '../../src/sync/http.ts';
import { memoryTokenStore, ReauthorizeError, UpstreamTokens } from '../../src/sync/upstream-oauth.ts';

const BASE = 'https://canvas.example.edu';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** A client whose waits are recorded instead of slept. */
function client(extra: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) {
  const waits: number[] = [];
  const c = new HttpClient({ baseUrl: BASE, headers: () => ({ authorization: 'Bearer t0ken' }), sleep: async (ms) => void waits.push(ms), ...extra });
  return { c, waits };
}

const users = (ids: number[]) => ids.map((id) => ({ id: String(id), name: `User ${id}` }));

describe('HttpClient', () => {
  test('follows Link rel=next across three pages, without rel=last, and sends the token', async () => {
    const seen: string[] = [];
    server.use(http.get(`${BASE}/api/v1/accounts/1/users`, ({ request }) => {
      seen.push(request.headers.get('authorization')!);
      const page = Number(new URL(request.url).searchParams.get('page') ?? 1);
      const next = page < 3 ? `<${BASE}/api/v1/accounts/1/users?page=${page + 1}&per_page=100>; rel="next", ` : '';
      return HttpResponse.json(users([page * 10 + 1, page * 10 + 2]), { headers: { link: `${next}<${BASE}/api/v1/accounts/1/users?page=1&per_page=100>; rel="first"` } });
    }));
    const { c } = client();
    const all = [];
    for await (const page of c.pages<{ id: string }[]>('/api/v1/accounts/1/users?per_page=100', (res) => linkNext(res))) all.push(...page);
    expect(all.map((u) => u.id)).toEqual(['11', '12', '21', '22', '31', '32']);
    expect(new Set(seen)).toEqual(new Set(['Bearer t0ken']));
  });

  test('429 waits at least Retry-After; Canvas-style 403 Rate Limit Exceeded is a throttle too', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}/a`, () => (++calls === 1 ? new HttpResponse('slow down', { status: 429, headers: { 'retry-after': '2' } }) : HttpResponse.json({ ok: 1 }))));
    const { c, waits } = client();
    expect(await c.getJson('/a')).toEqual({ ok: 1 });
    expect(waits.some((w) => w >= 2000)).toBe(true);

    let hits = 0;
    server.use(http.get(`${BASE}/b`, () => (++hits === 1
      ? new HttpResponse('403 Forbidden (Rate Limit Exceeded)\n', { status: 403, headers: { 'content-type': 'text/plain', 'x-rate-limit-remaining': '0.0' } })
      : HttpResponse.json({ ok: 2 }))));
    const canvas = client({ isThrottle: (res, body) => res.status === 403 && /rate limit exceeded/i.test(body) });
    expect(await canvas.c.getJson('/b')).toEqual({ ok: 2 });
    // Without the throttle rule a 403 is final.
    hits = 0;
    await expect(client().c.getJson('/b')).rejects.toMatchObject({ status: 403 });
  });

  test('a 5xx burst is retried with growing, capped waits; a lasting outage gives up', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}/c`, () => (++calls <= 3 ? new HttpResponse('<html>oops</html>', { status: calls === 2 ? 502 : 503 }) : HttpResponse.json([1]))));
    const { c, waits } = client({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect(await c.getJson('/c')).toEqual([1]);
    expect(waits).toHaveLength(3);
    expect(waits.every((w) => w <= 1000)).toBe(true);
    server.use(http.get(`${BASE}/d`, () => new HttpResponse('down', { status: 500 })));
    await expect(client({ retries: 2 }).c.get('/d')).rejects.toBeInstanceOf(HttpError);
  });

  test('a request past its timeout is retried, then fails', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}/slow`, async () => {
      if (++calls === 1) await delay(300);
      return HttpResponse.json({ late: false });
    }));
    expect(await client({ timeoutMs: 100 }).c.getJson('/slow')).toEqual({ late: false });
    server.use(http.get(`${BASE}/never`, async () => {
      await delay(300);
      return HttpResponse.json({});
    }));
    await expect(client({ timeoutMs: 50, retries: 1 }).c.get('/never')).rejects.toThrow();
  });

  test('credentials never leave the origin; a paging loop is caught; a non-JSON body is an error, not a crash', async () => {
    server.use(http.get(`${BASE}/p`, () => HttpResponse.json([], { headers: { link: '<https://evil.example/steal>; rel="next"' } })));
    const { c } = client();
    const pages = async (first: string) => {
      for await (const _ of c.pages(first, (res) => linkNext(res))) { /* drain */ }
    };
    await expect(pages('/p')).rejects.toThrow(/refusing to send credentials/);
    server.use(http.get(`${BASE}/loop`, () => HttpResponse.json([], { headers: { link: `<${BASE}/loop>; rel="next"` } })));
    await expect(pages('/loop')).rejects.toThrow(/loops back/);
    server.use(http.get(`${BASE}/html`, () => new HttpResponse('<html>maintenance</html>', { headers: { 'content-type': 'text/html' } })));
    await expect(c.getJson('/html')).rejects.toThrow(/not JSON/);
  });

  test('a 401 refreshes credentials once; a second 401 is final', async () => {
    let token = 'old';
    server.use(http.get(`${BASE}/me`, ({ request }) =>
      request.headers.get('authorization') === 'Bearer new' ? HttpResponse.json({ me: 1 }) : new HttpResponse(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="canvas-lms"' } })));
    let refreshes = 0;
    const c = new HttpClient({ baseUrl: BASE, headers: () => ({ authorization: `Bearer ${token}` }), onUnauthorized: async () => { refreshes++; token = 'new'; return true; }, sleep: async () => {} });
    expect(await c.getJson('/me')).toEqual({ me: 1 });
    token = 'old';
    const stuck = new HttpClient({ baseUrl: BASE, headers: () => ({ authorization: 'Bearer old' }), onUnauthorized: async () => true, sleep: async () => {} });
    await expect(stuck.get('/me')).rejects.toMatchObject({ status: 401 });
    expect(refreshes).toBe(1);
  });

  test('a low X-Rate-Limit-Remaining slows the next requests down', async () => {
    server.use(http.get(`${BASE}/budget`, () => HttpResponse.json({}, { headers: { 'x-rate-limit-remaining': '20' } })));
    const { c, waits } = client({ baseDelayMs: 200 });
    await c.get('/budget');
    await c.get('/budget');
    expect(waits[0]).toBeGreaterThanOrEqual(200);
  });

  test('a budget that runs low with X-Rate-Limit-Reset waits for the reset before the next request', async () => {
    server.use(http.get(`${BASE}/credits`, () => HttpResponse.json({}, { headers: { 'x-rate-limit-remaining': '40', 'x-rate-limit-reset': '12', 'x-request-cost': '10' } })));
    const { c, waits } = client();
    await c.get('/credits');
    expect(waits).toEqual([]);
    await c.get('/credits');
    expect(waits.length).toBe(1);
    expect(waits[0]).toBeGreaterThan(11_000);
  });

  test('shutdown (an aborted signal) ends a request at once, and no retry follows', async () => {
    server.use(http.get(`${BASE}/hang`, async () => {
      await delay(5000);
      return HttpResponse.json({});
    }));
    const stop = new AbortController();
    const c = new HttpClient({ baseUrl: BASE, signal: stop.signal });
    const started = Date.now();
    const pending = c.get('/hang');
    setTimeout(() => stop.abort(new Error('shutting down')), 50);
    await expect(pending).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('Link parsing: case, quoting, several rels, commas inside URLs', () => {
    const res = (link: string) => new Response(null, { headers: { link } });
    expect(linkNext(res('<https://x/a?b=1,2>; REL="Next"'))).toBe('https://x/a?b=1,2');
    expect(linkNext(res('<https://x/1>; rel="prev first", <https://x/3>; rel=next'))).toBe('https://x/3');
    expect(linkNext(res('<https://x/1>; rel="last"'))).toBeNull();
  });
});

describe('upstream OAuth', () => {
  const TOKEN_URL = 'http://auth.example/oauth2/token';

  test('client credentials: one request for concurrent callers, the token reused until it expires', async () => {
    let requests = 0;
    server.use(http.post(TOKEN_URL, async ({ request }) => {
      requests++;
      expect(request.headers.get('authorization')).toBe(`Basic ${Buffer.from('cid:secret').toString('base64')}`);
      expect(await request.text()).toContain('grant_type=client_credentials');
      return HttpResponse.json({ access_token: `at-${requests}`, token_type: 'Bearer', expires_in: 3600 });
    }));
    const tokens = new UpstreamTokens({ tokenEndpoint: TOKEN_URL, clientId: 'cid', clientSecret: 'secret', allowInsecure: true, grant: 'client_credentials', store: memoryTokenStore() });
    const got = await Promise.all([tokens.accessToken(), tokens.accessToken(), tokens.accessToken()]);
    expect(got).toEqual(['at-1', 'at-1', 'at-1']);
    expect(await tokens.accessToken()).toBe('at-1');
    tokens.invalidate();
    expect(await tokens.accessToken()).toBe('at-2');
  });

  test('rotating refresh tokens: the new one is stored before use; instances sharing a store refresh once; a spent one means re-authorise', async () => {
    const valid = new Set(['rt-1']);
    let n = 1;
    server.use(http.post(TOKEN_URL, async ({ request }) => {
      const form = new URLSearchParams(await request.text());
      const presented = form.get('refresh_token')!;
      if (!valid.delete(presented)) return HttpResponse.json({ error: 'invalid_grant', error_description: 'refresh token already used' }, { status: 400 });
      const next = `rt-${++n}`;
      valid.add(next);
      await delay(20);
      return HttpResponse.json({ access_token: `at-${n}`, token_type: 'Bearer', expires_in: 3600, refresh_token: next });
    }));
    const store = memoryTokenStore({ refreshToken: 'rt-1' });
    const options = { tokenEndpoint: TOKEN_URL, clientId: 'cid', clientSecret: 's', allowInsecure: true, grant: 'refresh_token' as const, store };
    // Two runs at once (two instances, as two processes would have): one refresh, both get its token.
    const [a, b] = [new UpstreamTokens(options), new UpstreamTokens(options)];
    expect(await Promise.all([a.accessToken(), b.accessToken(), a.accessToken()])).toEqual(['at-2', 'at-2', 'at-2']);
    expect(a.requests + b.requests).toBe(1);
    expect(store.state).toMatchObject({ refreshToken: 'rt-2', accessToken: 'at-2' });
    // The source refused at-2: the next token comes from a refresh, not from the store.
    a.invalidate();
    expect(await a.accessToken()).toBe('at-3');
    expect(store.state.refreshToken).toBe('rt-3');
    // Someone else spent the stored token: it is refused, and the source needs a person.
    const stale = new UpstreamTokens({ ...options, store: memoryTokenStore({ refreshToken: 'rt-1' }) });
    await expect(stale.accessToken()).rejects.toBeInstanceOf(ReauthorizeError);
  });
});
