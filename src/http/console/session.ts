import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { LOCK_MINUTES, sessionOf, signIn, signOut } from '../../auth/admins.ts';
import type { Orm } from '../../db/orm.ts';
import { notice, page } from './layout.ts';

/**
 * Console sign-in. The session cookie is HttpOnly, SameSite=Strict, scoped to /console, and Secure
 * whenever the browser reached the gateway over HTTPS (directly, or through a proxy saying so when
 * TRUST_PROXY is set) or on
 * this machine; on plain HTTP elsewhere every page says the cookie travels in clear. Every POST
 * carries the session's CSRF token; the sign-in form a token of its own (double-submit cookie).
 */

export type ConsoleEnv = { Variables: { admin: { username: string; csrfToken: string }; insecure: boolean } };

const COOKIE = 'rg_console';
const LOGIN_CSRF = 'rg_console_login';

function transport(c: Context, trustProxy: boolean) {
  const url = new URL(c.req.url);
  const https = url.protocol === 'https:' || (trustProxy && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https');
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  return { secure: https || local, insecure: !https && !local };
}

const same = (a: string | undefined, b: string | undefined) =>
  Boolean(a && b) && a!.length === b!.length && timingSafeEqual(Buffer.from(a!), Buffer.from(b!));

/** The form field or header carrying a CSRF token. */
async function csrfOf(c: Context): Promise<string | undefined> {
  const header = c.req.header('x-csrf-token');
  if (header) return header;
  const type = c.req.header('content-type') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const form = await c.req.parseBody();
    return typeof form._csrf === 'string' ? form._csrf : undefined;
  }
  // Multipart uploads are streamed, not parsed here: they carry the token in the query.
  return c.req.query('_csrf');
}

/** Every console page but sign-in needs a session; every POST its CSRF token. */
export function requireAdmin(orm: Orm, trustProxy: boolean): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const { insecure } = transport(c, trustProxy);
    c.set('insecure', insecure);
    const session = await sessionOf(orm, getCookie(c, COOKIE));
    if (!session) {
      if (c.req.method === 'GET') return c.redirect(`/console/login?next=${encodeURIComponent(c.req.path + (new URL(c.req.url).search))}`, 303);
      return c.text('Sign in first.', 401);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && !same(await csrfOf(c), session.csrfToken)) {
      return c.text('The form is stale or did not come from this console (CSRF token missing or wrong). Go back, reload and try again.', 403);
    }
    c.set('admin', session);
    await next();
  };
}

/** A local path to go back to after sign-in, never another site. */
const safeNext = (next: string | undefined) => (next && /^\/console(\/|$|\?)/.test(next) ? next : '/console');

export function registerSignIn(app: Hono<ConsoleEnv>, orm: Orm, trustProxy: boolean) {
  const form = (c: Context, message?: ReturnType<typeof notice>, status = 200, next = c.req.query('next')) => {
    const token = randomBytes(18).toString('base64url');
    const { secure, insecure } = transport(c, trustProxy);
    setCookie(c, LOGIN_CSRF, token, { httpOnly: true, sameSite: 'Strict', path: '/console', secure, maxAge: 3600 });
    return page(c, { title: 'Sign in', insecure, status }, html`
${message ?? ''}
<form method="post" action="/console/login" class="stack">
  <input type="hidden" name="_csrf" value="${token}">
  <input type="hidden" name="next" value="${safeNext(next)}">
  <div><label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" required autofocus></div>
  <div><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required></div>
  <div><button type="submit">Sign in</button></div>
</form>
<p class="muted">No account yet? On the gateway's machine: <code>npm run cli -- admins create --username you</code></p>`);
  };

  app.get('/console/login', (c) => form(c));
  app.post('/console/login', async (c) => {
    const body = await c.req.parseBody();
    const next = typeof body.next === 'string' ? body.next : undefined;
    if (!same(typeof body._csrf === 'string' ? body._csrf : undefined, getCookie(c, LOGIN_CSRF))) {
      return form(c, notice('bad', 'The sign-in form expired; please try again.'), 403, next);
    }
    const result = await signIn(orm, String(body.username ?? ''), String(body.password ?? ''));
    if (!result.ok) {
      return form(c, notice('bad', result.locked
        ? `Too many failed sign-ins: this account is locked for ${LOCK_MINUTES} minutes. Another admin can lift the lock with "admins unlock".`
        : 'Wrong username or password.'), 401, next);
    }
    deleteCookie(c, LOGIN_CSRF, { path: '/console' });
    setCookie(c, COOKIE, result.token, { httpOnly: true, sameSite: 'Strict', path: '/console', secure: transport(c, trustProxy).secure });
    return c.redirect(safeNext(next), 303);
  });
}

export function registerSignOut(app: Hono<ConsoleEnv>, orm: Orm) {
  app.post('/console/logout', async (c) => {
    await signOut(orm, getCookie(c, COOKIE)!);
    deleteCookie(c, COOKIE, { path: '/console' });
    return c.redirect('/console/login', 303);
  });
}
