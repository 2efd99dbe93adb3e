import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { sql } from 'kysely';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectors } from '../../connectors/index.ts';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createAdmin, signIn, MAX_FAILURES } from '../../src/auth/admins.ts';
import { SecretBox } from '../../src/auth/secret-box.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { RecordBatch } from '../../src/sync/records.ts';
import { fixture, replaceLine, variant, zipOf } from '../support/csv.ts';
import { useTestDatabase } from '../support/db.ts';
import { defaults, smallDistrict } from '../support/roster.ts';

/**
 * The admin console end to end in headless Chromium (Debian's package, driven by playwright-core):
 * sign-in, a valid and an invalid upload, approving a held run, a new source and a new API client.
 * Screenshots go to data/screenshots/ (and to docs/console/ with SCREENSHOTS=docs).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`Chromium is not at ${CHROMIUM}; .ci/run installs Debian's chromium package`);
if (!available) console.warn(`console browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

const db = useTestDatabase();
const USER = 'dana.admin';
const PASSWORD = 'correct horse battery staple';
let browser: Browser;
let server: ReturnType<typeof serve>;
let base: string;
const shots = [join(process.cwd(), 'data', 'screenshots'), ...(process.env.SCREENSHOTS === 'docs' ? [join(process.cwd(), 'docs', 'console')] : [])];

async function shot(page: Page, name: string) {
  for (const dir of shots) {
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  }
}

/** Every sourcedId (and reference to one) with a prefix. */
function prefixed(batches: RecordBatch[], prefix: string): RecordBatch[] {
  const walk = (value: unknown, key = ''): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, key));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    return typeof value === 'string' && /sourcedIds?$/i.test(key) ? prefix + value : value;
  };
  return batches.map((b) => ({ ...b, records: walk(b.records) }) as RecordBatch);
}

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true }).click();

async function signedIn(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('dialog', (dialog) => void dialog.accept());
  await page.goto(`${base}/console`);
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/console`);
  return page;
}

beforeAll(async () => {
  if (!available) return;
  await createAdmin(db.orm, USER, PASSWORD);
  const config = loadConfig({ DATA_DIR: './data/test-console', SYNC_HOLD_SHARE: '0.3' });
  const app = createApp({
    orm: db.orm, config, tokens: new TokenIssuer('s'.repeat(40), 600), credential: credentialFromToken('a'.repeat(40)),
    logger: createLogger('silent'), box: new SecretBox(Buffer.alloc(32, 3)),
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

describe.skipIf(!available)('admin console in Chromium', () => {
  test('sign-in: pages need a session; a wrong password is refused; the cookie is HttpOnly, SameSite=Strict and Secure', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/console/runs`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').textContent()).toContain('Wrong username or password');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back where it was going.
    await page.waitForURL(`${base}/console/runs`);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'rg_console')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: true, path: '/console' });
    await page.goto(`${base}/console`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
    await shot(page, 'dashboard-empty');
    await page.close();
  });

  test('a form without its CSRF token is refused; repeated failures lock the account', async () => {
    const page = await signedIn();
    const status = await page.evaluate(async () => (await fetch('/console/clients', { method: 'POST', body: new URLSearchParams({ name: 'x', scope: 'y' }) })).status);
    expect(status).toBe(403);
    await page.close();
    await createAdmin(db.orm, 'temp.admin', 'another long password');
    for (let i = 0; i < MAX_FAILURES; i++) expect(await signIn(db.orm, 'temp.admin', 'wrong')).toEqual({ ok: false, locked: false });
    // Locked now, even with the right password.
    expect(await signIn(db.orm, 'temp.admin', 'another long password')).toEqual({ ok: false, locked: true });
  });

  test('upload: a valid package is checked, shows what it would do, then imports', async () => {
    const page = await signedIn();
    await nav(page, 'Upload');
    await page.setInputFiles('#file', await zipOf(fixture('bulk')));
    await page.getByLabel(/Source name/).fill('sis');
    await page.getByRole('button', { name: 'Check the package' }).click();
    await page.getByRole('heading', { name: 'The package is valid' }).waitFor();
    expect(await page.getByRole('table').first().textContent()).toMatch(/user/);
    await shot(page, 'upload-valid');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.waitForURL(/\/console\/runs\/\d+$/);
    await page.getByText('succeeded').first().waitFor({ timeout: 20_000 });
    const [row] = await db.query(sql<{ n: number }>`select count(*)::int as n from "user" where status = 'active'`);
    expect(row!.n).toBeGreaterThan(0);
    const first = page.url();

    // The same package again: nothing to read, and the run says which run it repeats.
    await nav(page, 'Upload');
    await page.setInputFiles('#file', await zipOf(fixture('bulk')));
    await page.getByLabel(/Source name/).fill('sis');
    await page.getByRole('button', { name: 'Check the package' }).click();
    await page.getByRole('button', { name: 'Import' }).click();
    await page.waitForURL((url) => /\/console\/runs\/\d+$/.test(url.pathname) && url.href !== first);
    const repeat = page.getByText(/The same package as run #\d+/);
    await repeat.waitFor({ timeout: 20_000 });
    expect(await repeat.getByRole('link').getAttribute('href')).toBe(new URL(first).pathname);
    await page.close();
  });

  test('upload: an invalid package shows its report by file and line, and offers no import', async () => {
    const page = await signedIn();
    await page.goto(`${base}/console/upload`);
    const broken = variant('bulk', { 'users.csv': replaceLine(3, 'u-bart,,,maybe,bsimpson,,Bart,Simpson,,,,,,,,,,,,,s1,,') });
    await page.setInputFiles('#file', await zipOf(broken));
    await page.getByLabel(/Source name/).fill('sis');
    await page.getByRole('button', { name: 'Check the package' }).click();
    await page.getByRole('heading', { name: 'The package has errors' }).waitFor();
    expect(await page.getByRole('button', { name: 'Import' }).count()).toBe(0);
    const group = page.locator('details').filter({ has: page.locator('summary', { hasText: /^users\.csv:/ }) });
    await shot(page, 'upload-invalid');
    expect(await group.locator('summary').textContent()).toMatch(/users\.csv: \d+ issue/);
    // The bad value, on its line, named by its field.
    const bad = group.locator('tbody tr', { hasText: 'enabledUser' });
    expect(await bad.first().locator('td').first().textContent()).toBe('3');
    await page.close();
  });

  test('a held run shows what it would tombstone, and Approve applies it', async () => {
    // A district of its own (ids prefixed, so nothing collides with the uploads above), then a run that drops most of it.
    const district = prefixed(smallDistrict(), 'lms-');
    await reconcile(db.orm, { ...defaults, source: 'lms', mode: 'bulk', batches: district });
    const onlyOrgs = district.filter((b) => b.entity === 'org' || b.entity === 'academicSession' || b.entity === 'course');
    const held = await reconcile(db.orm, { ...defaults, holdShare: 0.3, source: 'lms', mode: 'bulk', batches: onlyOrgs });
    expect(held.status).toBe('held');
    const page = await signedIn();
    await page.goto(`${base}/console/runs?status=held`);
    await page.getByRole('link', { name: `#${held.runId}` }).click();
    expect(await page.getByRole('status').first().textContent()).toMatch(/Held: would tombstone/);
    expect(await page.locator('td.strong').count()).toBeGreaterThan(0);
    await shot(page, 'run-held');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(`${base}/console/runs/${held.runId}`);
    await page.locator('.badge', { hasText: 'succeeded' }).first().waitFor();
    const [row] = await db.query(sql<{ status: string }>`select status from sync_run where id = ${held.runId}`);
    expect(row!.status).toBe('succeeded');
    await page.close();
  });

  test('a new source: settings from its kind, a live schedule preview, then listed with its next runs', async () => {
    const page = await signedIn();
    await nav(page, 'Sources');
    await page.getByLabel('Kind').selectOption('csv-folder');
    await page.getByRole('button', { name: 'Add a source' }).click();
    await page.getByLabel('Name').fill('sis-drop');
    await page.getByLabel(/^Schedule/).fill('0 */6 * * *');
    await page.locator('[data-schedule-preview]', { hasText: 'Next runs' }).waitFor();
    await page.getByLabel(/^Schedule/).fill('every day');
    await page.locator('[data-schedule-preview]', { hasText: 'Not a cron expression' }).waitFor();
    await page.getByLabel(/^Schedule/).fill('30 2 * * *');
    await page.getByLabel(/^folder/).fill('/tmp/sis-drop');
    await page.getByRole('button', { name: 'Add source' }).click();
    await page.getByText('Saved.').waitFor();
    await shot(page, 'source');
    await nav(page, 'Dashboard');
    expect(await page.getByRole('row', { name: /sis-drop/ }).textContent()).toMatch(/30 2 \* \* \*/);
    await shot(page, 'dashboard');
    await page.close();
  });

  test('an API client: created with scopes, its secret shown once, listed, revoked', async () => {
    const page = await signedIn();
    await nav(page, 'API clients');
    await page.getByLabel(/^Name/).fill('Acme LMS');
    await page.getByLabel(/OneRoster rostering, read \(everything\)/).check();
    await page.getByRole('button', { name: 'Create client' }).click();
    const secret = (await page.locator('#client-secret').textContent())!;
    expect(secret.length).toBeGreaterThan(30);
    await page.getByRole('link', { name: 'Back to the clients' }).click();
    expect(await page.content()).not.toContain(secret);
    const row = page.getByRole('row', { name: /Acme LMS/ });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText(/revoked; its tokens stop working/).waitFor();
    const [found] = await db.query(sql<{ revoked: boolean }>`select revoked_at is not null as revoked from api_client where name = 'Acme LMS'`);
    expect(found!.revoked).toBe(true);
    await page.close();
  });
});
