import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import cron from 'node-cron';
import { z } from 'zod';
import type { Connector } from '../../sync/connector.ts';
import { getSource, listSources, saveSource, SourceError, testSource, type SourceDeps, type SourceView } from '../../sync/sources.ts';
import { runNow } from '../admin/background.ts';
import { badge, csrf, notice, page, when, type Html } from './layout.ts';
import type { ConsoleEnv } from './session.ts';

/**
 * Sources: the list, a form per source built from its connector's settings schema (secrets are
 * write-only: an empty secret field keeps the stored value), a live preview of the schedule's next
 * runs, and the actions test, run now, enable and disable.
 */

interface Field { name: string; kind: 'text' | 'number' | 'boolean' | 'choice' | 'json'; choices?: string[]; description?: string; required: boolean; secret: boolean; fallback?: unknown }

/** The form fields of a connector's settings, from its zod schema as JSON Schema. */
function fieldsOf(connector: Connector): Field[] {
  const schema = z.toJSONSchema(connector.settings, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, prop]) => {
    const type = prop.type as string | undefined;
    const choices = Array.isArray(prop.enum) ? (prop.enum as string[]) : undefined;
    const kind: Field['kind'] = choices ? 'choice' : type === 'boolean' ? 'boolean' : type === 'number' || type === 'integer' ? 'number' : type === 'object' || type === 'array' ? 'json' : 'text';
    return { name, kind, choices, description: prop.description as string | undefined, required: (schema.required ?? []).includes(name) && prop.default === undefined, secret: connector.secrets.includes(name), fallback: prop.default };
  });
}

/** A form's settings for the connector: empty fields left out (defaults apply, secrets are kept). */
function settingsFrom(fields: Field[], form: Record<string, unknown>): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const f of fields) {
    const raw = form[`settings.${f.name}`];
    if (f.kind === 'boolean') {
      settings[f.name] = raw === 'on';
      continue;
    }
    if (typeof raw !== 'string' || raw.trim() === '') continue;
    if (f.kind === 'number') settings[f.name] = Number(raw);
    else if (f.kind === 'json') {
      try {
        settings[f.name] = JSON.parse(raw);
      } catch {
        throw new SourceError(`${f.name}: not valid JSON`);
      }
    } else settings[f.name] = raw.trim();
  }
  return settings;
}

function input(f: Field, view: SourceView | undefined) {
  const id = `settings.${f.name}`;
  const stored = view?.settings[f.name];
  const label = html`<label for="${id}">${f.name}${f.required ? ' (required)' : ''}${f.description ? html`<span class="hint">${f.description}</span>` : ''}</label>`;
  if (f.secret) {
    const set = view?.secretsSet.includes(f.name);
    return html`<div>${label}<input id="${id}" name="${id}" type="password" autocomplete="new-password" placeholder="${set ? 'set — leave empty to keep it' : 'not set'}"></div>`;
  }
  if (f.kind === 'boolean') return html`<div><label><input name="${id}" type="checkbox"${(stored ?? f.fallback) === true ? html` checked` : ''}> ${f.name}${f.description ? html`<span class="hint">${f.description}</span>` : ''}</label></div>`;
  if (f.kind === 'choice') {
    const current = String(stored ?? f.fallback ?? '');
    return html`<div>${label}<select id="${id}" name="${id}">${f.required ? '' : html`<option value="">(default)</option>`}${f.choices!.map((c) => html`<option${c === current ? html` selected` : ''}>${c}</option>`)}</select></div>`;
  }
  if (f.kind === 'json') return html`<div>${label}<textarea id="${id}" name="${id}" placeholder="${f.fallback === undefined ? '' : JSON.stringify(f.fallback)}">${stored === undefined ? '' : JSON.stringify(stored, null, 2)}</textarea></div>`;
  return html`<div>${label}<input id="${id}" name="${id}" type="${f.kind === 'number' ? 'number' : 'text'}" step="any" value="${stored === undefined ? '' : String(stored)}" placeholder="${f.fallback === undefined ? '' : String(f.fallback)}"></div>`;
}

function preview(schedule: string, timezone: string): Html {
  if (!schedule.trim()) return html`<span class="muted">No schedule: the source runs only when asked.</span>`;
  if (!cron.validate(schedule)) return html`<span class="notice bad">Not a cron expression (minute hour day month weekday, e.g. <code>0 */6 * * *</code>).</span>`;
  try {
    const task = cron.createTask(schedule, () => {}, { timezone: timezone || 'UTC' });
    const next = task.getNextRuns(3);
    void task.destroy();
    return html`Next runs: ${next.map((d, i) => html`${i ? ', ' : ''}${when(d.toISOString())}`)} <span class="muted">(${timezone || 'UTC'})</span>`;
  } catch {
    return html`<span class="notice bad">Unknown time zone.</span>`;
  }
}

export function registerSources(app: Hono<ConsoleEnv>, deps: SourceDeps) {
  const kinds = Object.keys(deps.connectors);

  const form = (c: Context<ConsoleEnv>, kind: string, view?: SourceView, message?: Html, status = 200) => {
    const connector = deps.connectors[kind]!;
    const user = c.get('admin');
    const title = view ? `Source ${view.name}` : `New ${kind} source`;
    return page(c, { title, user, insecure: c.get('insecure'), status }, html`
${message ?? ''}
${view ? html`<p>${view.enabled ? badge('ok') : html`<span class="badge muted">disabled</span>`} ${view.state === 'reauthorize' ? html`${badge('reauthorize')} ${view.stateReason}` : ''}
Last run: ${view.lastRun ? html`<a href="/console/runs/${view.lastRun.id}">#${view.lastRun.id}</a> ${badge(view.lastRun.status)}` : 'never'}</p>
<div class="actions">
  <form method="post" action="/console/sources/${view.id}/test">${csrf(user.csrfToken)}<button type="submit" class="secondary">Test connection</button></form>
  <form method="post" action="/console/sources/${view.id}/run">${csrf(user.csrfToken)}<button type="submit" class="secondary">Run now</button></form>
  <form method="post" action="/console/sources/${view.id}/${view.enabled ? 'disable' : 'enable'}">${csrf(user.csrfToken)}<button type="submit" class="secondary">${view.enabled ? 'Disable' : 'Enable'}</button></form>
</div>` : ''}
<form method="post" action="${view ? `/console/sources/${view.id}` : '/console/sources'}" class="stack">
  ${csrf(user.csrfToken)}<input type="hidden" name="kind" value="${kind}">
  <div><label for="name">Name</label><input id="name" name="name" type="text" required value="${view?.name ?? ''}"></div>
  <div><label for="schedule">Schedule <span class="hint">cron: minute hour day month weekday; empty: only when asked</span></label><input id="schedule" name="schedule" type="text" value="${view?.schedule ?? ''}" placeholder="0 */6 * * *"></div>
  <div><label for="timezone">Time zone</label><input id="timezone" name="timezone" type="text" value="${view?.timezone ?? 'UTC'}"></div>
  <p data-schedule-preview aria-live="polite">${preview(view?.schedule ?? '', view?.timezone ?? 'UTC')}</p>
  <fieldset class="stack"><legend>Settings</legend>${fieldsOf(connector).map((f) => input(f, view))}</fieldset>
  <div><button type="submit">${view ? 'Save' : 'Add source'}</button></div>
</form>`);
  };

  app.get('/console/sources', async (c) => {
    const sources = await listSources(deps);
    return page(c, { title: 'Sources', user: c.get('admin'), insecure: c.get('insecure') }, html`
<form method="get" action="/console/sources/new" class="filters"><div><label for="kind">Kind</label><select id="kind" name="kind">${kinds.map((k) => html`<option>${k}</option>`)}</select></div><div><button type="submit">Add a source</button></div></form>
<table><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Schedule</th><th scope="col">Next run</th><th scope="col">Last run</th><th scope="col">State</th></tr></thead>
<tbody>${sources.map((s) => html`<tr><th scope="row"><a href="/console/sources/${s.id}">${s.name}</a></th><td>${s.kind}</td><td><code>${s.schedule ?? 'on demand'}</code></td><td>${when(s.nextRuns[0])}</td>
<td>${s.lastRun ? html`${badge(s.lastRun.status)} ${when(s.lastRun.startedAt)}` : 'never'}</td><td>${s.enabled ? badge(s.state) : html`<span class="badge muted">disabled</span>`}</td></tr>`)}</tbody></table>`);
  });

  app.get('/console/sources/new', (c) => {
    const kind = c.req.query('kind') ?? '';
    return kinds.includes(kind) ? form(c, kind) : c.redirect('/console/sources', 303);
  });

  app.get('/console/schedule-preview', (c) => c.html(preview(c.req.query('cron') ?? '', c.req.query('tz') ?? 'UTC')));

  const save = async (c: Context<ConsoleEnv>, id?: number) => {
    const body = await c.req.parseBody();
    const kind = String(body.kind ?? '');
    if (!kinds.includes(kind)) return c.text('unknown kind', 400);
    const existing = id === undefined ? undefined : await getSource(deps, id);
    try {
      const settings = settingsFrom(fieldsOf(deps.connectors[kind]!), body);
      const saved = await saveSource(deps, {
        name: String(body.name ?? '').trim(), kind, settings, schedule: String(body.schedule ?? '').trim() || null,
        timezone: String(body.timezone ?? '').trim() || 'UTC', enabled: existing?.enabled ?? true,
      }, id);
      deps.logger.info('source saved in the console', { source: saved.name, admin: c.get('admin').username });
      return c.redirect(`/console/sources/${saved.id}?saved=1`, 303);
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      return form(c, kind, existing, notice('bad', error.message), 400);
    }
  };
  app.post('/console/sources', (c) => save(c));
  app.post('/console/sources/:id{[0-9]+}', (c) => save(c, Number(c.req.param('id'))));

  app.get('/console/sources/:id{[0-9]+}', async (c) => {
    const view = await getSource(deps, Number(c.req.param('id')));
    if (!view) return c.notFound();
    const message = c.req.query('saved') ? notice('ok', 'Saved.') : c.req.query('toggled') ? notice('ok', view.enabled ? 'Enabled.' : 'Disabled: it is not scheduled.') : undefined;
    return form(c, view.kind, view, message);
  });

  app.post('/console/sources/:id{[0-9]+}/test', async (c) => {
    const view = await getSource(deps, Number(c.req.param('id')));
    if (!view) return c.notFound();
    let message: Html;
    try {
      message = notice('ok', `Connection works: ${await testSource(deps, view.id)}`);
    } catch (error) {
      message = notice('bad', `The connection test failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return form(c, view.kind, view, message);
  });

  app.post('/console/sources/:id{[0-9]+}/run', async (c) => {
    const view = await getSource(deps, Number(c.req.param('id')));
    if (!view) return c.notFound();
    const outcome = await runNow(deps, view.id, (runId, error) => deps.logger.error('console run failed', { runId, error }));
    if ('runId' in outcome) return c.redirect(`/console/runs/${outcome.runId}`, 303);
    const why = 'error' in outcome ? String(outcome.error) : 'Nothing to do: the source has nothing new.';
    return form(c, view.kind, view, notice('error' in outcome ? 'bad' : 'info', why));
  });

  for (const action of ['enable', 'disable'] as const) {
    app.post(`/console/sources/:id{[0-9]+}/${action}`, async (c) => {
      const view = await getSource(deps, Number(c.req.param('id')));
      if (!view) return c.notFound();
      await saveSource(deps, { name: view.name, kind: view.kind, settings: view.settings, schedule: view.schedule, timezone: view.timezone, enabled: action === 'enable' }, view.id);
      return c.redirect(`/console/sources/${view.id}?toggled=1`, 303);
    });
  }
}
