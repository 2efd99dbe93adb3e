import type { Context } from 'hono';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/**
 * The console's page shell and small view helpers. Pages are server-rendered HTML (hono/html escapes
 * every interpolated value); the only script is /console/assets/console.js, which adds conveniences
 * (drag and drop, schedule preview, confirmations) to pages that work without it.
 */

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface PageOptions {
  title: string;
  /** The signed-in admin; absent on the sign-in page. */
  user?: { username: string; csrfToken: string };
  /** Seconds after which the page reloads itself (a run in progress). */
  refresh?: number;
  /** Cookies travel in clear: say so on every page. */
  insecure?: boolean;
  status?: number;
}

const NAV = [
  ['/console', 'Dashboard'],
  ['/console/upload', 'Upload'],
  ['/console/runs', 'Runs'],
  ['/console/sources', 'Sources'],
  ['/console/clients', 'API clients'],
] as const;

export function page(c: Context, options: PageOptions, body: Html) {
  const path = c.req.path;
  const current = (href: string) => (href === '/console' ? path === '/console' : path.startsWith(href));
  c.header('Cache-Control', 'no-store');
  return c.html(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.refresh ? html`<meta http-equiv="refresh" content="${options.refresh}">` : ''}
<title>${options.title} · Rostergate</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">Rostergate</span>
  ${options.user ? html`<nav aria-label="Console"><ul>${NAV.map(([href, label]) => html`<li><a href="${href}"${current(href) ? raw(' aria-current="page"') : ''}>${label}</a></li>`)}</ul></nav>
  <form method="post" action="/console/logout" class="signout">${csrf(options.user.csrfToken)}<span>${options.user.username}</span> <button type="submit" class="link">Sign out</button></form>` : ''}
</header>
${options.insecure ? html`<p class="banner" role="alert">This console is served over plain HTTP: your session cookie crosses the network unencrypted. Put the gateway behind HTTPS.</p>` : ''}
<main id="main" tabindex="-1">
<h1>${options.title}</h1>
${body}
</main>
</body>
</html>`, (options.status ?? 200) as 200);
}

export const csrf = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`;

export function badge(status: string) {
  const tone = ({ succeeded: 'ok', validated: 'ok', partial: 'warn', held: 'warn', queued: 'info', running: 'info', failed: 'bad', invalid: 'bad', rejected: 'muted', reauthorize: 'bad', ok: 'ok', stale: 'warn', fresh: 'ok', never: 'muted' } as Record<string, string>)[status] ?? 'muted';
  return html`<span class="badge ${tone}">${status}</span>`;
}

/** An instant as a readable UTC time, in a <time> element a script may show in local time. */
export function when(iso: string | null | undefined) {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}</time>`;
}

export function notice(kind: 'ok' | 'bad' | 'info', text: Html | string) {
  return html`<p class="notice ${kind}" role="${kind === 'bad' ? 'alert' : 'status'}">${text}</p>`;
}

export const number = (n: number) => n.toLocaleString('en-US');

/** Counts per entity as a table (created, updated, unchanged, tombstoned, rejected). */
export function countsTable(counts: Record<string, Record<string, number>> | null | undefined, caption: string) {
  const rows = Object.entries(counts ?? {}).filter(([, c]) => Object.values(c).some((n) => n > 0));
  if (rows.length === 0) return html`<p class="muted">No records.</p>`;
  const cols = ['created', 'updated', 'unchanged', 'tombstoned', 'rejected'];
  return html`<table><caption>${caption}</caption><thead><tr><th scope="col">Entity</th>${cols.map((k) => html`<th scope="col" class="num">${k}</th>`)}</tr></thead>
<tbody>${rows.map(([entity, c]) => html`<tr><th scope="row">${entity}</th>${cols.map((k) => html`<td class="num${k === 'tombstoned' && (c[k] ?? 0) > 0 ? ' strong' : ''}">${number(c[k] ?? 0)}</td>`)}</tr>`)}</tbody></table>`;
}
