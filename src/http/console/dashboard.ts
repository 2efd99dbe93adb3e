import type { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { sql } from 'kysely';
import { entitySpecs } from '../../sync/entities.ts';
import { listSources, type SourceDeps, type SourceView } from '../../sync/sources.ts';
import { badge, number, page, when } from './layout.ts';
import type { ConsoleEnv } from './session.ts';

/** The dashboard: sources with their last and next runs and freshness, totals, and recent runs as a chart. */

interface RecentRun { id: number; source: string; status: string; startedAt: string; seconds: number; records: number }

/**
 * Fresh: the last good run is within two schedule intervals (a day for sources without a schedule);
 * stale: older; never: no good run yet.
 */
function freshness(source: SourceView, lastGood: string | null): 'fresh' | 'stale' | 'never' {
  if (!lastGood) return 'never';
  const [a, b] = source.nextRuns.map((d) => Date.parse(d));
  const interval = a && b ? b - a : 24 * 3_600_000;
  return Date.now() - Date.parse(lastGood) <= 2 * interval ? 'fresh' : 'stale';
}

/** Run durations (bars) and records handled (line), oldest to newest, as an SVG chart. */
export function runChart(runs: readonly RecentRun[]) {
  if (runs.length === 0) return html`<p class="muted">No finished runs yet.</p>`;
  const [w, h, pad] = [760, 220, 40];
  const maxS = Math.max(...runs.map((r) => r.seconds), 1);
  const maxR = Math.max(...runs.map((r) => r.records), 1);
  const step = (w - 2 * pad) / runs.length;
  const y = (v: number, max: number) => h - pad - (v / max) * (h - 2 * pad);
  const bars = runs.map((r, i) => `<rect x="${(pad + i * step + step * 0.15).toFixed(1)}" y="${y(r.seconds, maxS).toFixed(1)}" width="${(step * 0.7).toFixed(1)}" height="${(h - pad - y(r.seconds, maxS)).toFixed(1)}" fill="#6e9ad8"><title>Run ${r.id} (${escapeXml(r.source)}, ${r.status}): ${r.seconds.toFixed(1)} s, ${r.records} records</title></rect>`);
  const line = runs.map((r, i) => `${(pad + i * step + step / 2).toFixed(1)},${y(r.records, maxR).toFixed(1)}`).join(' ');
  const svg = `<svg class="chart" viewBox="0 0 ${w} ${h}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">
<title id="chart-title">Recent runs</title><desc id="chart-desc">Bars: seconds per run (up to ${maxS.toFixed(1)} s). Line: records per run (up to ${maxR}).</desc>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#57606a"/>
<text x="${pad}" y="${pad - 12}" font-size="12" fill="#1b1f24">${maxS.toFixed(1)} s</text>
<text x="${w - pad}" y="${pad - 12}" font-size="12" fill="#116329" text-anchor="end">${maxR} records</text>
${bars.join('\n')}
<polyline points="${line}" fill="none" stroke="#116329" stroke-width="2"/>
<text x="${pad}" y="${h - 12}" font-size="12" fill="#57606a">oldest</text><text x="${w - pad}" y="${h - 12}" font-size="12" fill="#57606a" text-anchor="end">newest</text>
</svg>`;
  return raw(svg);
}

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

export function registerDashboard(app: Hono<ConsoleEnv>, deps: SourceDeps) {
  app.get('/console', async (c) => {
    const db = deps.orm.em.fork().getKysely();
    const sources = await listSources(deps);
    const { rows: last } = await sql<{ source: string; counts: Record<string, Record<string, number>> | null; lastGood: string | null }>`
      select s.name as source,
        (select r.counts from sync_run r where r.source_id = s.id and r.finished_at is not null order by r.id desc limit 1) as counts,
        (select to_char(max(r.finished_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') from sync_run r where r.source_id = s.id and r.status = 'succeeded') as "lastGood"
      from source s`.execute(db);
    const bySource = new Map(last.map((r) => [r.source, r]));
    const counts = entitySpecs.map((spec, i) => sql`select ${i}::int as o, ${spec.name}::text as entity, count(*)::int as n from ${sql.table(spec.table)} where status = 'active'`);
    const { rows: totals } = await sql<{ entity: string; n: number }>`select entity, n from (${sql.join(counts, sql` union all `)}) t order by o`.execute(db);
    const { rows: recent } = await sql<RecentRun>`select * from (
        select r.id::int as id, s.name as source, r.status, to_char(r.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "startedAt",
          extract(epoch from r.finished_at - r.started_at)::float8 as seconds,
          coalesce((select sum((v->>'created')::int + (v->>'updated')::int + (v->>'unchanged')::int) from jsonb_each(r.counts) as e(k, v)), 0)::int as records
        from sync_run r join source s on s.id = r.source_id where r.finished_at is not null order by r.id desc limit 30) x order by id`.execute(db);
    return page(c, { title: 'Dashboard', user: c.get('admin'), insecure: c.get('insecure') }, html`
<h2>Sources</h2>
${sources.length === 0 ? html`<p class="muted">No sources yet. <a href="/console/sources/new">Add one</a> or <a href="/console/upload">upload a OneRoster package</a>.</p>` : html`
<table><caption class="muted">Every source, its last and next run</caption>
<thead><tr><th scope="col">Source</th><th scope="col">Kind</th><th scope="col">Schedule</th><th scope="col">Last run</th><th scope="col">Records (last run)</th><th scope="col">Next run</th><th scope="col">Freshness</th></tr></thead>
<tbody>${sources.map((s) => {
      const info = bySource.get(s.name);
      const records = Object.values(info?.counts ?? {}).reduce((n, x) => n + (x.created ?? 0) + (x.updated ?? 0) + (x.unchanged ?? 0), 0);
      return html`<tr>
  <th scope="row"><a href="/console/sources/${s.id}">${s.name}</a>${s.enabled ? '' : html` <span class="badge muted">disabled</span>`}${s.state === 'reauthorize' ? html` ${badge('reauthorize')}` : ''}</th>
  <td>${s.kind}</td><td><code>${s.schedule ?? 'on demand'}</code> <span class="muted">${s.schedule ? s.timezone : ''}</span></td>
  <td>${s.lastRun ? html`<a href="/console/runs/${s.lastRun.id}">#${s.lastRun.id}</a> ${badge(s.lastRun.status)} ${when(s.lastRun.finishedAt ?? s.lastRun.startedAt)}` : html`<span class="muted">never</span>`}</td>
  <td class="num">${s.lastRun ? number(records) : '—'}</td>
  <td>${s.nextRuns[0] ? when(s.nextRuns[0]) : html`<span class="muted">—</span>`}</td>
  <td>${badge(freshness(s, info?.lastGood ?? null))}</td></tr>`;
    })}</tbody></table>`}
<h2>Records</h2>
<div class="cards">${totals.map(({ entity: name, n }) => html`<div class="card"><div class="n">${number(n)}</div><div class="muted">${name}</div></div>`)}</div>
<h2>Recent runs</h2>
${runChart(recent)}`);
  });
}
