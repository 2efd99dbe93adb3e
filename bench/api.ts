import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { TokenIssuer } from '../src/auth/tokens.ts';
import { reconcile } from '../src/sync/reconcile.ts';
import type { RecordBatch, UserRecord } from '../src/sync/records.ts';
import { BASE_PATH, operations } from '../standards/oneroster/rest/operations.ts';
import { listQueries, type Selection } from '../standards/oneroster/rest/query.ts';
import { resources } from '../standards/oneroster/rest/resources.ts';
import { generateDistrict } from './generate.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * The OneRoster API under load: a synthetic district in the database, the gateway and a bare
 * baseline (node:http + pg running the SQL the gateway compiles for the same request) each in a
 * process of its own, and autocannon with 20 connections per query. Reports req/s and latency,
 * the ratio to the baseline, and the plan of each query (which index it uses).
 */

const CONNECTIONS = 20;
const SECONDS = 6;
const KEY = 'bench-signing-key-0123456789abcdef0123456789';

interface Scenario { name: string; operationId: string; params: Record<string, string>; query: Record<string, string> }

export async function apiBench({ orm, scale, workDir }: BenchContext): Promise<string> {
  const db = orm.em.fork().getKysely();
  console.log('loading the district…');
  await reconcile(orm, { source: 'bench', mode: 'bulk', batches: generateDistrict({ scale }), holdShare: 0.3, batchSize: 10_000 });
  const [{ loaded }] = (await sql<{ loaded: string }>`select to_char(max(date_last_modified) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as loaded from "user"`.execute(db)).rows as [{ loaded: string }];
  await new Promise((r) => setTimeout(r, 5));
  // A later delta changes 1% of the users, so a dateLastModified filter has something to find.
  const changed: UserRecord[] = [];
  for (const batch of generateDistrict({ scale })) {
    if (batch.entity === 'user') changed.push(...(batch.records as UserRecord[]).filter((_, i) => i % 100 === 0).map((u) => ({ ...u, email: `changed-${u.sourcedId}@example.org` })));
  }
  await reconcile(orm, { source: 'bench', mode: 'delta', batches: [{ entity: 'user', records: changed } as RecordBatch], holdShare: 1, batchSize: 10_000 });

  const { rows: [pick] } = await sql<{ family: string; cls: string }>`select
      (select family_name from "user" group by family_name order by count(*), family_name limit 1 offset 10) as family,
      (select class_sourced_id from enrollment where role = 'student' group by 1 order by count(*) desc limit 1) as cls`.execute(db);
  const total = Number((await sql<{ n: string }>`select count(*) as n from "user"`.execute(db)).rows[0]!.n);
  const scenarios: Scenario[] = [
    { name: 'GET /users?limit=100', operationId: 'getAllUsers', params: {}, query: { limit: '100' } },
    { name: `GET /users?filter=familyName='…'`, operationId: 'getAllUsers', params: {}, query: { limit: '100', filter: `familyName='${pick!.family}'` } },
    { name: `GET /users?filter=dateLastModified>'…' (delta)`, operationId: 'getAllUsers', params: {}, query: { limit: '100', filter: `dateLastModified>'${loaded}'` } },
    { name: `GET /users?offset=${Math.min(45_000, total - 100)} (deep page)`, operationId: 'getAllUsers', params: {}, query: { limit: '100', offset: String(Math.min(45_000, total - 100)) } },
    { name: 'GET /classes/{id}/students', operationId: 'getStudentsForClass', params: { classSourcedId: pick!.cls }, query: {} },
    { name: 'GET /teachers?limit=100', operationId: 'getAllTeachers', params: {}, query: { limit: '100' } },
    { name: 'GET /students?limit=100', operationId: 'getAllStudents', params: {}, query: { limit: '100' } },
  ];

  const client = await createClient(orm, { name: 'bench', scopes: [scopes.roster] });
  const token = await new TokenIssuer(KEY, 3600).issue(client.clientId, [scopes.roster], null);
  const gatewayPort = 18_000 + (process.pid % 1000);
  const baselinePort = gatewayPort + 1000;

  // The baseline answers each scenario's URL with the SQL the gateway compiles for it.
  const compiled: Record<string, unknown> = {};
  const plans: string[] = [];
  for (const s of scenarios) {
    const op = operations.find((o) => o.operationId === s.operationId)!;
    const resource = resources[op.resource];
    // Every field named: the statement renders each row's JSON itself, as a gateway without the JSON cache would.
    const sel: Selection = { resource, where: op.where(s.params), within: op.within?.(s.params), base: `http://127.0.0.1:${gatewayPort}${BASE_PATH}`, fields: resource.properties(sql``).map(([name]) => name) };
    const q = listQueries(sel, { filter: s.query.filter, limit: Number(s.query.limit ?? 100), offset: Number(s.query.offset ?? 0) });
    compiled[pathOf(s)] = { key: op.key, page: q.page.compile(db), total: q.total.compile(db) };
    const page = q.page.compile(db);
    const { rows } = await sql.raw<{ 'QUERY PLAN': unknown }>(`explain (format json) ${inline(page.sql, page.parameters)}`).execute(db);
    plans.push(`${s.name}: ${summarisePlan(rows[0]!['QUERY PLAN'])}`);
  }
  mkdirSync(workDir, { recursive: true });
  const queryFile = join(workDir, 'queries.json');
  writeFileSync(queryFile, JSON.stringify(compiled));

  const url = orm.config.get('clientUrl')!;
  const results: { name: string; gateway: Load; baseline: Load }[] = [];
  const gateway = await start('gateway', url, gatewayPort, KEY);
  const baseline = await start('baseline', url, baselinePort, queryFile);
  try {
    for (const s of scenarios) {
      const path = pathOf(s);
      await load(`http://127.0.0.1:${gatewayPort}${path}`, token, 1);
      const g = await load(`http://127.0.0.1:${gatewayPort}${path}`, token, SECONDS);
      await load(`http://127.0.0.1:${baselinePort}${path}`, undefined, 1);
      const b = await load(`http://127.0.0.1:${baselinePort}${path}`, undefined, SECONDS);
      console.log(`${s.name}: gateway ${g.rps} req/s (p99 ${g.p99} ms), baseline ${b.rps} req/s`);
      results.push({ name: s.name, gateway: g, baseline: b });
    }
  } finally {
    gateway.kill();
    baseline.kill();
  }

  return [
    `### OneRoster API, ${scale} scale`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}; ${CONNECTIONS} connections, ${SECONDS} s per run, ${total.toLocaleString('en')} users.`,
    '',
    '| query | gateway req/s | p50 ms | p99 ms | baseline req/s | baseline p99 ms | gateway ÷ baseline | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.name} | ${r.gateway.rps} | ${r.gateway.p50} | ${r.gateway.p99} | ${r.baseline.rps} | ${r.baseline.p99} | ${(r.gateway.rps / r.baseline.rps).toFixed(2)} | ${r.gateway.errors} |`),
    '',
    '- Baseline: node:http + pg, the same SQL the gateway compiled for the request, no auth, no parsing.',
    '- Targets (issue #4): ≥ 60% of baseline throughput, p99 < 100 ms for every query, ≥ 1 000 req/s for GET /users?limit=100.',
    '- Plans (EXPLAIN of the page query):',
    ...plans.map((p) => `  - ${p}`),
    '',
  ].join('\n');
}

const pathOf = (s: Scenario) => {
  const op = operations.find((o) => o.operationId === s.operationId)!;
  const qs = new URLSearchParams(s.query).toString();
  return `${BASE_PATH}${op.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(s.params[n]!))}${qs ? `?${qs}` : ''}`;
};

interface Load { rps: number; p50: number; p99: number; errors: number }

async function load(url: string, token: string | undefined, seconds: number): Promise<Load> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const errors = result.errors + result.non2xx + result.timeouts;
  return { rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors };
}

async function start(mode: string, url: string, port: number, extra: string): Promise<ChildProcess> {
  const child = fork(new URL('./api-server.ts', import.meta.url), [mode, url, String(port), extra], { stdio: 'inherit' });
  const [message] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => ['exit'])])) as [string];
  if (message !== 'ready') throw new Error(`${mode} server did not start`);
  return child;
}

/** Bound parameters written into the statement, for EXPLAIN (bench only; values are ours). */
function inline(text: string, params: readonly unknown[]) {
  return text.replace(/\$(\d+)/g, (_, i: string) => {
    const v = params[Number(i) - 1];
    return typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`;
  });
}

/** The scan nodes of a plan: which relations it reads and through which index. */
function summarisePlan(plan: unknown): string {
  const scans: string[] = [];
  const walk = (node: Record<string, unknown>) => {
    const type = node['Node Type'] as string;
    if (/Scan/.test(type) && node['Relation Name'] && !/^(org|academic_session|course)$/.test(node['Relation Name'] as string)) {
      scans.push(`${type} on ${node['Relation Name']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`);
    }
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk((plan as { Plan: Record<string, unknown> }[])[0]!.Plan);
  return [...new Set(scans)].join('; ');
}
