import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { reconcile } from '../src/sync/reconcile.ts';
import { BASE_PATH } from '../standards/oneroster/rest/operations.ts';
import { generateDistrict, type Scale } from './generate.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * Load and faults (issue #11), loopback only. Two gateway processes on one database take 200
 * concurrent clients for a while (OneRoster reads on one, Ed-Fi reads and student writes on the
 * other) while a bulk sync rewrites part of the district; afterwards: no 5xx, every acknowledged
 * write is there once, every etag matches its row.
 */

const seconds: Record<Scale, number> = { small: 15, district: 60, large: 60 };

function gateway(url: string, port: number, key: string): Promise<ChildProcess> {
  const child = fork(new URL('./api-server.ts', import.meta.url), ['gateway', url, String(port), key], { stdio: 'inherit' });
  return Promise.race([once(child, 'message').then(() => child), once(child, 'exit').then(() => { throw new Error('gateway did not start'); })]);
}

export async function loadFaultsBench({ orm, scale }: BenchContext): Promise<string> {
  const url = orm.config.get('clientUrl')!;
  const db = orm.em.fork().getKysely();
  const lines: string[] = [];
  await reconcile(orm, { source: 'sis', mode: 'bulk', batches: generateDistrict({ scale }), holdShare: 1, batchSize: 10_000 });

  // --- load ---------------------------------------------------------------------------------
  const key = randomBytes(32).toString('hex');
  const [a, b] = await Promise.all([gateway(url, 18181, key), gateway(url, 18182, key)]);
  const client = await createClient(orm, { name: 'load', scopes: [scopes.roster, scopes.edfiWrite] });
  const tokenRes = await fetch('http://127.0.0.1:18181/oauth/token', {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const duration = seconds[scale];
  let n = 0;
  const runs = [
    autocannon({ url: `http://127.0.0.1:18181${BASE_PATH}/users?limit=100`, connections: 100, duration, headers }),
    autocannon({ url: 'http://127.0.0.1:18182/data/v3/ed-fi/students?limit=25', connections: 60, duration, headers }),
    autocannon({
      url: 'http://127.0.0.1:18182/data/v3/ed-fi/students', connections: 40, duration, headers,
      requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, body: JSON.stringify({ studentUniqueId: `LOAD${++n}`, firstName: 'Load', lastSurname: `Test${n}`, birthDate: '2010-01-01' }) }) }],
    }),
  ];
  // A sync in the middle of it: every tenth user's given name changes.
  await new Promise((r) => setTimeout(r, (duration * 1000) / 4));
  const changed = [...generateDistrict({ scale })].map((batch) => (batch.entity === 'user'
    ? { ...batch, records: batch.records.map((r, i) => (i % 10 === 0 ? { ...r, givenName: 'Synced' } : r)) }
    : batch));
  const sync = await reconcile(orm, { source: 'sis', mode: 'bulk', batches: changed, holdShare: 1, batchSize: 10_000 });
  const results = await Promise.all(runs);
  a.kill('SIGINT');
  b.kill('SIGINT');
  const status = (r: autocannon.Result, prefix: string) => Object.entries(r.statusCodeStats ?? {}).filter(([code]) => code.startsWith(prefix)).reduce((s, [, v]) => s + (v.count ?? 0), 0);
  const fivexx = results.reduce((s, r) => s + status(r, '5'), 0);
  const errors = results.reduce((s, r) => s + r.errors + r.timeouts, 0);
  const created = status(results[2]!, '201');
  const { rows: [stored] } = await sql<{ n: number; distinct: number }>`select count(*)::int as n, count(distinct identifier)::int as distinct from "user" where identifier like 'LOAD%' and status = 'active'`.execute(db);
  // autocannon stops counting at the deadline; requests already sent still complete, at most one per connection.
  const writesOk = stored!.n >= created && stored!.n <= Math.min(n, created + 40) && stored!.distinct === stored!.n;
  const { rows: [badTags] } = await sql<{ n: number }>`select count(*)::int as n from "user" where etag <> change_version::text || '-' || left(content_hash, 8)`.execute(db);
  const { rows: [synced] } = await sql<{ n: number }>`select count(*)::int as n from "user" where given_name = 'Synced'`.execute(db);
  const names = ['OneRoster GET /users?limit=100 (gateway 1, 100 connections)', 'Ed-Fi GET /students (gateway 2, 60 connections)', 'Ed-Fi POST /students (gateway 2, 40 connections)'];
  lines.push(
    `### Load and faults, ${scale} scale`, '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}. Two gateway processes, one embedded PostgreSQL, 200 connections for ${duration} s, a bulk sync (${sync.status}, ${sync.counts.user?.updated ?? 0} users changed) in the middle.`, '',
    '| load | requests | req/s | p99 ms | 2xx | 4xx | 5xx | errors |', '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r, i) => `| ${names[i]} | ${r.requests.total} | ${Math.round(r.requests.average)} | ${r.latency.p99} | ${status(r, '2')} | ${status(r, '4')} | ${status(r, '5')} | ${r.errors + r.timeouts} |`),
    '',
    `- 5xx: ${fivexx}; connection errors and timeouts: ${errors}.`,
    `- Writes: ${created} students acknowledged with 201 before the deadline, ${stored!.n} stored, all distinct, of ${n} sent${writesOk ? ' (none lost, none doubled; the difference was in flight at the deadline)' : ' — MISMATCH'}.`,
    `- Etags: ${badTags!.n} user rows whose etag does not match their change version and content hash.`,
    `- The sync's ${synced!.n} changed users are all there after the load.`,
  );

  lines.push('', 'A process killed with SIGKILL mid-run is covered by test/schedule/sources.test.ts (a sync) and test/csv/kill.test.ts (a CSV import, killed while staging and while applying): the whole change or none of it; a live process closes the run as failed.');
  if (fivexx || errors || !writesOk || badTags!.n) throw new Error(`load check failed:\n${lines.join('\n')}`);
  return `${lines.join('\n')}\n`;
}
