import { chmodSync, copyFileSync, mkdtempSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { SecretBox } from '../../src/auth/secret-box.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { fixture, zipOf } from '../support/csv.ts';
import { useTestDatabase } from '../support/db.ts';

const TOKEN = 'test-admin-token-0123456789abcdef0123456789';
const db = useTestDatabase();
let app: ReturnType<typeof createApp>;
beforeAll(() => {
  app = createApp({
    orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-http-sources' }), tokens: new TokenIssuer('k'.repeat(40), 600),
    box: new SecretBox(Buffer.alloc(32, 3)), credential: credentialFromToken(TOKEN), logger: createLogger('silent'),
  });
});

const call = (method: string, path: string, body?: unknown) =>
  app.request(path, { method, headers: { Authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

describe('/admin/sources', () => {
  test('register, read, change, test and run a drop folder; refusals are Problem Details', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'rg-api-drop-'));
    chmodSync(folder, 0o755);
    const created = await call('POST', '/admin/sources', { name: 'sis', kind: 'csv-folder', settings: { folder, settleSeconds: 0 }, schedule: '0 2 * * *', timezone: 'America/Chicago' });
    expect(created.status).toBe(201);
    const source = (await created.json()) as { id: number; nextRuns: string[] };
    expect(source).toMatchObject({ name: 'sis', kind: 'csv-folder', schedule: '0 2 * * *', enabled: true });
    expect(source.nextRuns).toHaveLength(3);
    expect(((await (await call('GET', '/admin/sources')).json()) as { sources: unknown[] }).sources).toHaveLength(1);
    expect((await call('GET', `/admin/sources/${source.id}`)).status).toBe(200);

    expect((await call('POST', '/admin/sources', { name: 'sis', kind: 'csv-folder', settings: { folder } })).status).toBe(409);
    expect((await call('POST', '/admin/sources', { name: 'x', kind: 'ftp', settings: {} })).status).toBe(400);
    expect((await call('POST', '/admin/sources', { name: 'x', kind: 'csv-folder', settings: {} })).status).toBe(400);
    expect((await call('POST', '/admin/sources', { name: 'x', kind: 'csv-folder', settings: { folder }, schedule: 'daily' })).status).toBe(400);
    expect((await call('GET', '/admin/sources/999')).status).toBe(404);

    const tested = await call('POST', `/admin/sources/${source.id}/test`);
    expect(await tested.json()).toEqual({ ok: true, detail: `${folder} is readable; 0 package(s) waiting` });
    const idle = await call('POST', `/admin/sources/${source.id}/run`);
    expect(idle.status).toBe(200);

    const dropped = join(folder, 'roster.zip');
    copyFileSync(await zipOf(fixture('bulk')), dropped);
    utimesSync(dropped, new Date(Date.now() - 5000), new Date(Date.now() - 5000));
    const started = await call('POST', `/admin/sources/${source.id}/run`);
    expect(started.status).toBe(202);
    const { runId, queued } = (await started.json()) as { runId: number; queued: boolean };
    expect(queued).toBe(false);
    let status = 'running';
    for (let i = 0; i < 100 && status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = ((await (await call('GET', `/admin/runs/${runId}`)).json()) as { status: string }).status;
    }
    expect(status).toBe('succeeded');

    const changed = await call('PUT', `/admin/sources/${source.id}`, { name: 'sis', kind: 'csv-folder', settings: { folder }, schedule: null, enabled: false });
    expect(await changed.json()).toMatchObject({ schedule: null, enabled: false, nextRuns: [] });

    // It owns rows now: it can be disabled, not deleted. An empty one can.
    expect((await call('DELETE', `/admin/sources/${source.id}`)).status).toBe(409);
    const empty = (await (await call('POST', '/admin/sources', { name: 'spare', kind: 'csv-folder', settings: { folder } })).json()) as { id: number };
    expect((await call('DELETE', `/admin/sources/${empty.id}`)).status).toBe(204);
    expect((await call('DELETE', `/admin/sources/${empty.id}`)).status).toBe(404);
  });
});
