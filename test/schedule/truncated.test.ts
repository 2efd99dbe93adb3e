import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { SecretBox } from '../../src/auth/secret-box.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log.ts';
import type { Connector } from '../../src/sync/connector.ts';
import { HttpClient, linkNext } from '../../src/sync/http.ts';
import type { RecordBatch } from '../../src/sync/records.ts';
import { saveSource, syncSource, type SourceDeps } from '../../src/sync/sources.ts';
import { useTestDatabase } from '../support/db.ts';

/**
 * A connector reading orgs page by page over HTTP, as the LMS connectors will: when a page fails for
 * good in the middle of the listing, the run must not treat what it got as the whole listing.
 */
const BASE = 'https://sis.example.org';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterAll(() => server.close());

const org = (i: number) => ({ sourcedId: `o${i}`, name: `School ${i}`, type: 'school' });
let failPage2 = false;
server.use(http.get(`${BASE}/orgs`, ({ request }) => {
  const page = Number(new URL(request.url).searchParams.get('page') ?? 1);
  if (page === 2 && failPage2) return new HttpResponse('<html>Bad gateway</html>', { status: 502 });
  const next = page < 3 ? { link: `<${BASE}/orgs?page=${page + 1}>; rel="next"` } : undefined;
  return HttpResponse.json([org(page * 2 - 1), org(page * 2)], { headers: next });
}));

const pagedOrgs: Connector = {
  kind: 'paged',
  settings: z.object({ url: z.string() }),
  secrets: [],
  async open(ctx) {
    const client = new HttpClient({ baseUrl: String(ctx.settings.url), retries: 2, sleep: async () => {}, signal: ctx.signal });
    let complete = false;
    return {
      batches: (async function* () {
        for await (const page of client.pages<RecordBatch['records']>('/orgs', (res) => linkNext(res))) yield { entity: 'org', records: page } as RecordBatch;
        complete = true;
      })(),
      complete: () => (complete ? ['org'] : []),
    };
  },
};

const db = useTestDatabase({ fresh: true });
const deps = (): SourceDeps => ({
  orm: db.orm, box: new SecretBox(Buffer.alloc(32)), connectors: { paged: pagedOrgs }, config: loadConfig({ DATA_DIR: './data/test-truncated', SYNC_HOLD_SHARE: '1' }), logger: createLogger('silent'),
});

describe('truncated paging', () => {
  test('a listing cut short by a failing page ends partial, with the error, and tombstones nothing', async () => {
    await saveSource(deps(), { name: 'sis', kind: 'paged', settings: { url: BASE } });
    expect(await syncSource(deps(), 'sis', 'manual')).toMatchObject({ status: 'succeeded', complete: true });
    failPage2 = true;
    const cut = await syncSource(deps(), 'sis', 'manual');
    expect(cut).toMatchObject({ status: 'partial', complete: false });
    expect(cut!.error).toMatch(/502/);
    expect(cut!.counts.org!.tombstoned).toBe(0);
    expect((await db.query(sql<{ n: number }>`select count(*)::int as n from org where status = 'active'`))[0]!.n).toBe(6);
  });
});
