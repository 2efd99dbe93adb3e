import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { createClient, listClients, revokeClient } from '../../auth/clients.ts';
import { knownScopes, scopes } from '../../auth/scopes.ts';
import type { Orm } from '../../db/orm.ts';
import type { Logger } from '../../log.ts';
import { csrf, notice, page, when } from './layout.ts';
import type { ConsoleEnv } from './session.ts';

/** API clients: list, create (the secret is shown once, on the answer to the form), revoke. */

const LABELS: Record<string, string> = {
  [scopes.roster]: 'OneRoster rostering, read (everything)',
  [scopes.rosterCore]: 'OneRoster rostering core, read',
  [scopes.rosterDemographics]: 'OneRoster demographics, read',
  [scopes.gradebook]: 'OneRoster gradebook, read (everything)',
  [scopes.gradebookCore]: 'OneRoster gradebook core, read',
  [scopes.gradebookPut]: 'OneRoster gradebook, create and update (PUT)',
  [scopes.gradebookPost]: 'OneRoster gradebook, create in bulk (POST)',
  [scopes.gradebookDelete]: 'OneRoster gradebook, delete',
  [scopes.admin]: 'Admin API',
  [scopes.edfiRead]: 'Ed-Fi, read',
  [scopes.edfiWrite]: 'Ed-Fi, read and write',
};

export function registerClients(app: Hono<ConsoleEnv>, orm: Orm, logger: Logger) {
  const list = async (c: Context<ConsoleEnv>, message?: ReturnType<typeof notice>) => {
    const clients = await listClients(orm);
    const user = c.get('admin');
    return page(c, { title: 'API clients', user, insecure: c.get('insecure') }, html`
${message ?? ''}
<h2>New client</h2>
<form method="post" action="/console/clients" class="stack">
  ${csrf(user.csrfToken)}
  <div><label for="name">Name <span class="hint">Who uses it, e.g. "Acme LMS (production)"</span></label><input id="name" name="name" type="text" required></div>
  <fieldset><legend>Scopes</legend>${knownScopes.map((s, i) => html`<div><label><input type="checkbox" name="scope" value="${s}" id="scope-${i}"> ${LABELS[s] ?? s} <span class="hint">${s}</span></label></div>`)}</fieldset>
  <div><label for="orgs">Org scope <span class="hint">Optional: sourcedIds of the orgs it may see (and the orgs below them), separated by commas</span></label><input id="orgs" name="orgs" type="text"></div>
  <div><button type="submit">Create client</button></div>
</form>
<h2>Clients</h2>
<table><thead><tr><th scope="col">Name</th><th scope="col">Client id</th><th scope="col">Scopes</th><th scope="col">Orgs</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
<tbody>${clients.map((cl) => html`<tr><th scope="row">${cl.name}</th><td><code>${cl.clientId}</code></td><td>${cl.scopes.map((s) => html`<div>${LABELS[s] ?? s}</div>`)}</td><td>${cl.orgs?.join(', ') ?? html`<span class="muted">all</span>`}</td><td>${when(cl.createdAt)}</td>
<td>${cl.revokedAt ? html`revoked ${when(cl.revokedAt)}` : html`<form method="post" action="/console/clients/${cl.clientId}/revoke">${csrf(user.csrfToken)}<button type="submit" class="danger" data-confirm="Revoke ${cl.name}? Its tokens stop working.">Revoke</button></form>`}</td></tr>`)}</tbody></table>`);
  };

  app.get('/console/clients', (c) => list(c));
  app.post('/console/clients', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const name = String(body.name ?? '').trim();
    const chosen = ([] as unknown[]).concat(body.scope ?? []).map(String).filter((s) => knownScopes.includes(s));
    const orgs = String(body.orgs ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (!name || chosen.length === 0) return list(c, notice('bad', 'A client needs a name and at least one scope.'));
    const { clientId, secret } = await createClient(orm, { name, scopes: chosen, orgs });
    logger.info('API client created in the console', { clientId, admin: c.get('admin').username });
    return page(c, { title: 'Client created', user: c.get('admin'), insecure: c.get('insecure') }, html`
${notice('ok', html`Client <strong>${name}</strong> created. Copy the secret now: it is shown only this once and cannot be recovered.`)}
<dl><dt>client_id</dt><dd><code id="client-id">${clientId}</code></dd><dt>client_secret</dt><dd><p class="secret" id="client-secret">${secret}</p></dd></dl>
<p>Token endpoint: <code>POST /oauth/token</code> with <code>grant_type=client_credentials</code> and these credentials (HTTP Basic).</p>
<p><a href="/console/clients">Back to the clients</a></p>`);
  });
  app.post('/console/clients/:id/revoke', async (c) => {
    const id = c.req.param('id');
    if (!(await revokeClient(orm, id))) return c.notFound();
    logger.info('API client revoked in the console', { clientId: id, admin: c.get('admin').username });
    return list(c, notice('ok', `Client ${id} revoked; its tokens stop working.`));
  });
}
