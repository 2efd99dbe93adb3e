import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { sql } from 'kysely';
import { importPackage } from '../../../standards/oneroster/csv/import.ts';
import { packageLimits } from '../../config/config.ts';
import { approveRun, rejectRun, RunStateError } from '../../sync/reconcile.ts';
import { getRun, listRuns, type IssueView, type RunView } from '../../sync/runs.ts';
import type { SourceDeps } from '../../sync/sources.ts';
import { whenRunStarts } from '../admin/background.ts';
import { receive } from '../admin/imports.ts';
import { reportResponse } from '../admin/report.ts';
import { badge, countsTable, csrf, notice, number, page, when } from './layout.ts';
import type { ConsoleEnv } from './session.ts';

/**
 * Uploads and runs. An upload is validated first (a dry run of the import, nothing written) and its
 * report shown by file and line; only a package without errors offers "Import", which imports the
 * same file. Runs: a filtered list, and a page per run with its counts, its issues (searchable,
 * downloadable as CSV) and, when held, what it would tombstone with Approve and Reject.
 */

const STATUSES = ['queued', 'running', 'succeeded', 'partial', 'held', 'failed', 'invalid', 'validated', 'rejected'];
const TOKEN = /^[0-9a-f]{24}$/;

/** Issues grouped by file (run-wide ones first), lines in order. */
function report(issues: readonly IssueView[]) {
  if (issues.length === 0) return html`<p class="muted">No issues.</p>`;
  const files = new Map<string, IssueView[]>();
  for (const i of issues) {
    const file = i.file ?? '(whole package)';
    const list = files.get(file);
    if (list) list.push(i);
    else files.set(file, [i]);
  }
  return html`${[...files].map(([file, list]) => html`
<details open><summary>${file}: ${list.length} issue${list.length === 1 ? '' : 's'}</summary>
<table><thead><tr><th scope="col" class="num">Line</th><th scope="col">Severity</th><th scope="col">Entity</th><th scope="col">sourcedId</th><th scope="col">Field</th><th scope="col">Problem</th></tr></thead>
<tbody>${list.map((i) => html`<tr><td class="num">${i.line ?? ''}</td><td><span class="badge ${i.severity === 'error' ? 'bad' : 'warn'}">${i.severity}</span></td><td>${i.entity}</td><td>${i.sourcedId ?? ''}</td><td>${i.field ?? ''}</td><td>${i.message}</td></tr>`)}</tbody></table>
</details>`)}`;
}

/** Records staged so far by a run in progress. */
async function staged(deps: SourceDeps, runId: number) {
  const { rows } = await sql<{ n: number }>`select coalesce(sum(cardinality(sourced_ids)), 0)::int as n from sync_seen where run_id = ${runId}`.execute(deps.orm.em.fork().getKysely());
  return rows[0]!.n;
}

function progress(run: RunView, n: number) {
  const seconds = Math.round((Date.now() - Date.parse(run.startedAt)) / 1000);
  return html`<p role="status" aria-live="polite">${badge('running')} ${number(n)} records read so far, ${seconds} s in. This page refreshes itself.</p>`;
}

export function registerRuns(app: Hono<ConsoleEnv>, deps: SourceDeps) {
  const uploads = join(deps.config.DATA_DIR, 'console-uploads');
  const uploadPath = (token: string) => join(uploads, `${token}.zip`);
  const importOptions = { holdShare: deps.config.SYNC_HOLD_SHARE, batchSize: deps.config.SYNC_BATCH_SIZE, limits: packageLimits(deps.config) };
  const start = (c: Context<ConsoleEnv>, work: (onRun: (id: number) => void) => Promise<unknown>) =>
    whenRunStarts(work, (runId, error) => deps.logger.error('console import failed', { runId, error, admin: c.get('admin').username }));

  app.get('/console/upload', (c) => page(c, { title: 'Upload a OneRoster package', user: c.get('admin'), insecure: c.get('insecure') }, html`
<p>A OneRoster 1.1 or 1.2 CSV package as a zip. It is checked first; nothing is written until you choose Import.</p>
<form method="post" action="/console/upload?_csrf=${encodeURIComponent(c.get('admin').csrfToken)}" enctype="multipart/form-data" class="stack">
  <div class="drop" data-drop>
    <label for="file">Package (.zip)<span class="hint">Drop it here, or choose it.</span></label>
    <input id="file" name="file" type="file" accept=".zip,application/zip" required>
    <p data-drop-name class="muted"></p>
  </div>
  <div><label for="source">Source name <span class="hint">Optional; default: the manifest's source.systemCode, else csv.</span></label><input id="source" name="source" type="text"></div>
  <div><button type="submit">Check the package</button></div>
</form>`));

  app.post('/console/upload', async (c) => {
    await mkdir(uploads, { recursive: true, mode: 0o700 });
    const token = randomBytes(12).toString('hex');
    const path = uploadPath(token);
    const fields: Record<string, string> = {};
    const received = await receive(c, path, deps.config.IMPORT_MAX_UPLOAD_BYTES, fields);
    if (received !== 'ok') {
      await rm(path, { force: true });
      const why = received === 'too_large' ? `The package is larger than ${number(deps.config.IMPORT_MAX_UPLOAD_BYTES)} bytes.` : 'Choose a zip file to upload.';
      return page(c, { title: 'Upload a OneRoster package', user: c.get('admin'), insecure: c.get('insecure'), status: 400 }, html`${notice('bad', why)}<p><a href="/console/upload">Try again</a></p>`);
    }
    const source = fields.source?.trim() || undefined;
    const outcome = await start(c, (onRun) => importPackage(deps.orm, path, { ...importOptions, source, dryRun: true, onRun }));
    if (!('runId' in outcome)) return c.text(`The package could not be checked: ${'error' in outcome ? String(outcome.error) : 'no run'}`, 500);
    return c.redirect(`/console/uploads/${token}?run=${outcome.runId}${source ? `&source=${encodeURIComponent(source)}` : ''}`, 303);
  });

  app.get('/console/uploads/:token', async (c) => {
    const token = c.req.param('token');
    const run = await getRun(deps.orm, Number(c.req.query('run')), 1000);
    if (!TOKEN.test(token) || !run) return c.notFound();
    const user = c.get('admin');
    if (run.status === 'running') return page(c, { title: 'Checking the package', user, insecure: c.get('insecure'), refresh: 1 }, progress(run, await staged(deps, run.id)));
    const ready = run.status === 'validated' && existsSync(uploadPath(token));
    if (!ready) await rm(uploadPath(token), { force: true });
    const source = c.req.query('source') ?? '';
    return page(c, { title: ready ? 'The package is valid' : 'The package has errors', user, insecure: c.get('insecure') }, html`
${ready ? notice('ok', html`No errors: importing it would change the records below. ${run.issues ? `${run.issues} warnings.` : ''}`)
  : notice('bad', html`${number(run.issues)} issue${run.issues === 1 ? '' : 's'}; nothing was written. Fix the files and upload the package again.`)}
${countsTable(run.counts, 'What the import would do')}
${ready ? html`<form method="post" action="/console/uploads/${token}/import" class="actions">${csrf(user.csrfToken)}<input type="hidden" name="source" value="${source}"><button type="submit">Import</button> <a href="/console/upload">Cancel</a></form>` : ''}
<h2>Report</h2>
<p><a href="/console/runs/${run.id}/issues.csv">Download the report (CSV)</a></p>
${report(run.issueList)}`);
  });

  app.post('/console/uploads/:token/import', async (c) => {
    const token = c.req.param('token');
    if (!TOKEN.test(token) || !existsSync(uploadPath(token))) return c.text('That upload is gone; upload the package again.', 404);
    const body = await c.req.parseBody();
    const path = uploadPath(token);
    const outcome = await start(c, (onRun) => importPackage(deps.orm, path, { ...importOptions, source: typeof body.source === 'string' && body.source ? body.source : undefined, onRun })
      .finally(() => rm(path, { force: true })));
    if (!('runId' in outcome)) return c.text(`The import did not start: ${'error' in outcome ? String(outcome.error) : 'no run'}`, 409);
    return c.redirect(`/console/runs/${outcome.runId}`, 303);
  });

  app.get('/console/runs', async (c) => {
    const status = STATUSES.includes(c.req.query('status') ?? '') ? c.req.query('status') : undefined;
    const source = c.req.query('source') || undefined;
    const offset = Math.max(0, Number(c.req.query('offset')) || 0);
    const { runs, total } = await listRuns(deps.orm, { status, source, limit: 50, offset });
    const { rows: names } = await sql<{ name: string }>`select name from source order by name`.execute(deps.orm.em.fork().getKysely());
    const link = (o: number) => `/console/runs?${new URLSearchParams({ ...(status && { status }), ...(source && { source }), offset: String(o) })}`;
    return page(c, { title: 'Runs', user: c.get('admin'), insecure: c.get('insecure') }, html`
<form method="get" class="filters">
  <div><label for="status">Status</label><select id="status" name="status"><option value="">any</option>${STATUSES.map((s) => html`<option${s === status ? html` selected` : ''}>${s}</option>`)}</select></div>
  <div><label for="source">Source</label><select id="source" name="source"><option value="">any</option>${names.map((n) => html`<option${n.name === source ? html` selected` : ''}>${n.name}</option>`)}</select></div>
  <div><button type="submit" class="secondary">Filter</button></div>
</form>
<table><caption class="muted">${number(total)} run${total === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Source</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col" class="num">Issues</th></tr></thead>
<tbody>${runs.map((r) => html`<tr><th scope="row"><a href="/console/runs/${r.id}">#${r.id}</a></th><td>${r.source}</td><td>${badge(r.status)}</td><td>${when(r.startedAt)}</td><td>${when(r.finishedAt)}</td><td class="num">${number(r.issues)}</td></tr>`)}</tbody></table>
<p class="actions">${offset > 0 ? html`<a href="${link(Math.max(0, offset - 50))}">Newer</a>` : ''} ${offset + 50 < total ? html`<a href="${link(offset + 50)}">Older</a>` : ''}</p>`);
  });

  app.get('/console/runs/:id{[0-9]+}', async (c) => {
    const id = Number(c.req.param('id'));
    const run = await getRun(deps.orm, id, 0);
    if (!run) return c.notFound();
    const user = c.get('admin');
    const q = (c.req.query('q') ?? '').trim();
    const { rows: issues } = await sql<IssueView>`select entity, sourced_id as "sourcedId", field, file, line, severity, code, message from sync_issue
      where run_id = ${id} ${q ? sql`and (message ilike ${`%${q}%`} or sourced_id ilike ${`%${q}%`} or code ilike ${`%${q}%`} or file ilike ${`%${q}%`})` : sql``}
      order by file nulls first, line nulls first, id limit 500`.execute(deps.orm.em.fork().getKysely());
    const running = run.status === 'running';
    return page(c, { title: `Run #${id}`, user, insecure: c.get('insecure'), refresh: running || run.status === 'queued' ? 2 : undefined }, html`
<p>${run.source} · ${run.mode} · ${badge(run.status)} · started ${when(run.startedAt)}${run.finishedAt ? html`, finished ${when(run.finishedAt)}` : ''}</p>
${run.status === 'queued' ? notice('info', 'Queued: the source was running when this run was asked for. It starts when that run ends.') : ''}
${run.sameAs ? notice('info', html`The same package as <a href="/console/runs/${run.sameAs}">run #${run.sameAs}</a>, and the source's records are as that run left them: nothing needed reading or writing.`) : ''}
${run.checkpoint ? html`<p class="muted">Read up to ${Object.entries(run.checkpoint).map(([k, v]) => `${k} ${String(v)}`).join(', ')}: the next incremental run starts there.</p>` : ''}
${running ? progress(run, await staged(deps, id)) : ''}
${run.error ? notice('bad', run.error) : ''}
${run.status === 'held' ? html`
${notice('info', html`Held: ${run.holdReason}. The <strong>tombstoned</strong> column says what approving would mark as deleted.`)}
<div class="actions">
  <form method="post" action="/console/runs/${id}/approve">${csrf(user.csrfToken)}<button type="submit" data-confirm="Apply this run, tombstones included?">Approve</button></form>
  <form method="post" action="/console/runs/${id}/reject">${csrf(user.csrfToken)}<button type="submit" class="danger" data-confirm="Discard this run? Nothing of it will be applied.">Reject</button></form>
</div>` : ''}
${countsTable(run.counts, 'Records per entity')}
<h2>Issues (${number(run.issues)})</h2>
<form method="get" class="filters" role="search"><div><label for="q">Search issues</label><input id="q" name="q" type="search" value="${q}"></div><div><button type="submit" class="secondary">Search</button></div></form>
<p><a href="/console/runs/${id}/issues.csv">Download every issue (CSV)</a></p>
${report(issues)}
${issues.length === 500 ? html`<p class="muted">The first 500 matches; the CSV has them all.</p>` : ''}`);
  });

  app.get('/console/runs/:id{[0-9]+}/issues.csv', (c) => reportResponse(deps.orm, Number(c.req.param('id')), `run-${c.req.param('id')}-issues.csv`));

  for (const action of ['approve', 'reject'] as const) {
    app.post(`/console/runs/:id{[0-9]+}/${action}`, async (c) => {
      const id = Number(c.req.param('id'));
      try {
        if (action === 'approve') await approveRun(deps.orm, id);
        else await rejectRun(deps.orm, id);
        deps.logger.info(`held run ${action === 'approve' ? 'approved' : 'rejected'}`, { runId: id, admin: c.get('admin').username });
      } catch (error) {
        if (!(error instanceof RunStateError)) throw error;
        return page(c, { title: `Run #${id}`, user: c.get('admin'), insecure: c.get('insecure'), status: 409 }, html`${notice('bad', error.message)}<p><a href="/console/runs/${id}">Back to the run</a></p>`);
      }
      return c.redirect(`/console/runs/${id}`, 303);
    });
  }
}
