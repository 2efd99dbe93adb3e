import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import autocannon, { type Request } from 'autocannon';
import { sql } from 'kysely';
import { createClient } from '../src/auth/clients.ts';
import { scopes } from '../src/auth/scopes.ts';
import { TokenIssuer } from '../src/auth/tokens.ts';
import { reconcile } from '../src/sync/reconcile.ts';
import { generateDistrict } from './generate.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { edfiResources, resourceNamed } from '../standards/edfi/resources.ts';
import { collectionQueries, pageToken } from '../standards/edfi/query.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * The Ed-Fi API under load, the way Ed-Fi's API Publisher loads a target: 20 parallel writers
 * POSTing students, then their studentSchoolAssociations, into a district-scale database; then 20
 * connections reading pages. The gateway runs in a process of its own (bench/api-server.ts).
 * Targets (issue #5): ≥ 1 000 writes/s, ≥ 1 500 reads/s, p99 < 150 ms.
 */

const CONNECTIONS = 20;
const SECONDS = 6;
const SWEEP_SECONDS = 3;
const KEY = 'bench-signing-key-0123456789abcdef0123456789';
const WRITES = { small: 2_000, district: 10_000, large: 10_000 } as const;

interface Load { name: string; rps: number; p50: number; p99: number; errors: number; requests: number; baseline?: Load }

export async function edfiBench({ orm, scale, workDir }: BenchContext): Promise<string> {
  const db = orm.em.fork().getKysely();
  console.log('loading the district…');
  await reconcile(orm, { source: 'bench', mode: 'bulk', batches: generateDistrict({ scale }), holdShare: 0.3, batchSize: 10_000 });
  // Staff loaded after the students (another sync, a later file): their Ed-Fi ids, time-ordered, come after
  // every student's. The generator lists teachers first, which left the order to the staged batches' timing.
  await sql`update "user" set edfi_id = ('ffff' || substr(edfi_id::text, 5))::uuid where sourced_id like 'tch-%'`.execute(db);
  await sql`update user_role set role = role where user_sourced_id like 'tch-%'`.execute(db);
  await sql`analyze "user", user_role`.execute(db);
  const { rows: schools } = await sql<{ id: string }>`select edfi_org_id(identifier, sourced_id)::text as id from org where type = 'school' order by 1`.execute(db);
  const users = Number((await sql<{ n: string }>`select count(*) as n from "user"`.execute(db)).rows[0]!.n);

  const client = await createClient(orm, { name: 'bench', scopes: [scopes.edfiWrite] });
  const token = await new TokenIssuer(KEY, 3600).issue(client.clientId, [scopes.edfiWrite], null);
  const port = 19_000 + (process.pid % 1000);
  const base = `http://127.0.0.1:${port}/data/v3/ed-fi`;
  const gateway = await start(orm.config.get('clientUrl')!, port, 'gateway', KEY);
  let baseline: ChildProcess | undefined;
  const results: Load[] = [];
  const sweep: Load[] = [];
  try {
    const count = WRITES[scale];
    const student = (i: number) => JSON.stringify({
      studentUniqueId: `B${String(i).padStart(7, '0')}`, firstName: 'Bench', lastSurname: `Student ${i}`, birthDate: '2010-05-01',
      birthSexDescriptor: 'uri://ed-fi.org/SexDescriptor#Female',
    });
    const ssa = (i: number) => JSON.stringify({
      studentReference: { studentUniqueId: `B${String(i).padStart(7, '0')}` }, schoolReference: { schoolId: Number(schools[i % schools.length]!.id) },
      entryDate: '2024-08-19', entryGradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Ninth grade',
    });
    results.push(await load('POST /students (create)', `${base}/students`, token, { amount: count, body: student }));
    results.push(await load('POST /studentSchoolAssociations (create)', `${base}/studentSchoolAssociations`, token, { amount: count, body: ssa }));
    results.push(await load('POST /students (unchanged re-post)', `${base}/students`, token, { amount: count, body: student }));
    const offset = Math.floor(users / 2);
    const { rows: [middle] } = await sql<{ seq: string }>`select edfi_id::text as seq from "user" order by edfi_id offset ${offset} limit 1`.execute(db);
    const reads = [
      ['GET /students (default page of 25)', '/students'],
      ['GET /students?limit=100', '/students?limit=100'],
      [`GET /students?limit=100&offset=${offset}`, `/students?limit=100&offset=${offset}`],
      [`GET /students?pageToken=… (cursor page of 25 at the same depth)`, `/students?pageSize=25&pageToken=${pageToken(middle!.seq)}`],
      [`GET /students?pageSize=100&pageToken=… (cursor at the same depth)`, `/students?pageSize=100&pageToken=${pageToken(middle!.seq)}`],
      ['GET /studentSchoolAssociations?limit=100', '/studentSchoolAssociations?limit=100'],
      ['GET /students?studentUniqueId=…', '/students?studentUniqueId=B0000042'],
      ['GET /sections?limit=100', '/sections?limit=100'],
    ] as const;
    // The baseline answers each read with the one statement that builds the page: node:http + pg, no auth, no parsing.
    const compiled: Record<string, unknown> = {};
    for (const [, path] of reads) {
      const url = new URL(`http://127.0.0.1${path}`);
      const { page, total } = collectionQueries(resourceNamed(url.pathname.slice(1))!, url);
      compiled[`/data/v3/ed-fi${path}`] = { items: true, page: page.compile(db), total: total.compile(db) };
    }
    mkdirSync(workDir, { recursive: true });
    const queryFile = join(workDir, 'edfi-queries.json');
    writeFileSync(queryFile, JSON.stringify(compiled));
    baseline = await start(orm.config.get('clientUrl')!, port + 1000, 'baseline', queryFile);
    for (const [name, path] of reads) {
      await load(name, `${base}${path}`, token, { seconds: 1 });
      const g = await load(name, `${base}${path}`, token, { seconds: SECONDS });
      await load(name, `http://127.0.0.1:${port + 1000}/data/v3/ed-fi${path}`, token, { seconds: 1 });
      g.baseline = await load(name, `http://127.0.0.1:${port + 1000}/data/v3/ed-fi${path}`, token, { seconds: SECONDS });
      results.push(g);
    }
    // Every other collection's first page: the ones read from several tables, or derived, are the slow ones.
    for (const resource of edfiResources.filter((r) => !r.name.endsWith('Descriptors'))) {
      await load(`GET /${resource.name}`, `${base}/${resource.name}`, token, { seconds: 1 });
      sweep.push(await load(`GET /${resource.name}`, `${base}/${resource.name}`, token, { seconds: SWEEP_SECONDS }));
    }
  } finally {
    gateway.kill();
    baseline?.kill();
  }
  for (const r of [...results, ...sweep]) console.log(`${r.name}: ${r.rps} req/s, p99 ${r.p99} ms, ${r.errors} errors`);
  return [
    `### Ed-Fi API, ${scale} scale`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}; ${CONNECTIONS} connections;`,
    `${users.toLocaleString('en')} users in the database before the writes.`,
    '',
    '| request | req/s | p50 ms | p99 ms | requests | errors | baseline req/s | gateway ÷ baseline |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.requests} | ${r.errors} | ${r.baseline?.rps ?? '—'} | ${r.baseline ? (r.rps / r.baseline.rps).toFixed(2) : '—'} |`),
    '',
    '- Baseline (reads): node:http + pg running, prepared, the one statement that builds the page, items and all (what the gateway runs without its item cache); no auth, no parsing.',
    '- The district\'s teachers get Ed-Fi ids after every student\'s, as when staff are loaded after the students.',
    '- Writes: each POST validates the body against the official schema, checks its descriptors, resolves its references and',
    '  upserts by natural key in one statement; a studentSchoolAssociation rewrites the student (a role of the OneRoster user).',
    '- Targets (issue #5): ≥ 1 000 writes/s and ≥ 1 500 reads/s, p99 < 150 ms. Ed-Fi anchors: 454–837 records/s bulk load,',
    '  35–140 req/s volume tests on 2 vCPU (../shared/reference/edfi.md §9).',
    '',
    `Every collection's default page (25 items), ${CONNECTIONS} connections, ${SWEEP_SECONDS} s each:`,
    '',
    '| request | req/s | p50 ms | p99 ms | errors |',
    '|---|---:|---:|---:|---:|',
    ...sweep.map((r) => `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} |`),
    '',
  ].join('\n');
}

async function load(name: string, url: string, token: string, options: { amount?: number; seconds?: number; body?: (i: number) => string }): Promise<Load> {
  let next = 0;
  const body = options.body;
  const started = performance.now();
  let last = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url,
      connections: CONNECTIONS,
      ...(options.amount ? { amount: options.amount } : { duration: options.seconds ?? SECONDS }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body ? { method: 'POST' as const, requests: [{ setupRequest: (req: Request) => ({ ...req, body: body(next++) }) }] } : {}),
    }, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', () => { last = performance.now(); });
  });
  const errors = result.errors + result.timeouts + (result.non2xx ?? 0);
  // autocannon reports whole seconds, and ends a fixed amount only on its next one-second tick: a dozen
  // seconds of writes would be off by up to 8 %. Timed to the last response instead.
  const seconds = ((options.amount ? last : performance.now()) - started) / 1000;
  return { name, rps: Math.round(result.requests.total / seconds), p50: result.latency.p50, p99: result.latency.p99, errors, requests: result.requests.total };
}

async function start(url: string, port: number, mode: 'gateway' | 'baseline', extra: string): Promise<ChildProcess> {
  const child = fork(new URL('./api-server.ts', import.meta.url), [mode, url, String(port), extra], { stdio: 'inherit' });
  const [message] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => ['exit'])])) as [string];
  if (message !== 'ready') throw new Error(`${mode} server did not start`);
  return child;
}
