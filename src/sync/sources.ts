import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import cron from 'node-cron';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { Connector, SyncContext } from './connector.ts';
import { entitySpecs } from './entities.ts';
import { closeIdleRun, stillQueued } from './queue.ts';
import { reconcile, recordFailedRun, withSourceLock, type RunSummary } from './reconcile.ts';
import { ReauthorizeError, type TokenStore } from './upstream-oauth.ts';

/**
 * Sources a connector syncs: stored with their schedule and settings, secrets sealed apart from the
 * rest, and synced through the one write path. Secrets go in and never come back out: views list
 * which secret settings are set, not their values.
 */

export interface SourceInput {
  name: string;
  kind: string;
  /** Every setting, secrets included; on update, a secret left out keeps its stored value, one sent as null is removed. */
  settings: Record<string, unknown>;
  schedule?: string | null;
  timezone?: string;
  enabled?: boolean;
}

export interface SourceView {
  id: number;
  name: string;
  kind: string;
  settings: Record<string, unknown>;
  /** Secret settings that have a value (the values are never shown). */
  secretsSet: string[];
  schedule: string | null;
  timezone: string;
  enabled: boolean;
  /** `reauthorize`: the source refused its credentials; scheduled runs wait until they are replaced. */
  state: 'ok' | 'reauthorize';
  stateReason: string | null;
  nextRuns: string[];
  lastRun: { id: number; status: string; startedAt: string; finishedAt: string | null } | null;
}

export class SourceError extends Error {
  readonly kind: 'invalid' | 'missing' | 'conflict';
  constructor(message: string, kind: 'invalid' | 'missing' | 'conflict' = 'invalid') {
    super(message);
    this.kind = kind;
  }
}

export interface SourceDeps {
  orm: MikroORM;
  box: SecretBox;
  connectors: Record<string, Connector>;
  config: Config;
  logger: Logger;
}

function connectorOf(deps: SourceDeps, kind: string): Connector {
  const connector = deps.connectors[kind];
  if (!connector) throw new SourceError(`unknown kind '${kind}'; known: ${Object.keys(deps.connectors).join(', ')}`);
  return connector;
}

function checkSchedule(schedule: string | null | undefined, timezone: string) {
  if (schedule && !cron.validate(schedule)) throw new SourceError(`schedule '${schedule}' is not a cron expression (e.g. '0 */6 * * *')`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new SourceError(`timezone '${timezone}' is not an IANA time zone (e.g. America/Chicago)`);
  }
}

/** Creates a source, or updates the one with `id`. */
export async function saveSource(deps: SourceDeps, input: SourceInput, id?: number): Promise<SourceView> {
  const connector = connectorOf(deps, input.kind);
  const timezone = input.timezone ?? 'UTC';
  checkSchedule(input.schedule, timezone);
  // Read, merge and write under the row's lock: a refresh token a run rotates meanwhile is not lost.
  try {
    const savedId = await deps.orm.em.fork().transactional(async (tx) => {
      const db = tx.getKysely();
      let stored: Record<string, unknown> = {};
      if (id !== undefined) {
        const { rows } = await sql<{ secrets: string | null }>`select secrets from source where id = ${id} for no key update`.execute(db);
        if (!rows[0]) throw new SourceError(`source ${id} does not exist`, 'missing');
        stored = rows[0].secrets ? deps.box.open<Record<string, unknown>>(rows[0].secrets) : {};
      }
      // A setting sent as null is removed (a secret kept from before included).
      const merged = Object.fromEntries(Object.entries({ ...Object.fromEntries(Object.entries(stored).filter(([k]) => connector.secrets.includes(k))), ...input.settings })
        .filter(([, value]) => value !== null));
      const parsed = connector.settings.safeParse(merged);
      if (!parsed.success) throw new SourceError(`settings are not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const secrets = Object.fromEntries(Object.entries(parsed.data).filter(([k]) => connector.secrets.includes(k)));
      const settings = Object.fromEntries(Object.entries(parsed.data).filter(([k]) => !connector.secrets.includes(k)));
      const sealed = Object.keys(secrets).length ? deps.box.seal(secrets) : null;
      const { rows } = id === undefined
        ? await sql<{ id: number }>`insert into source (name, kind, settings, secrets, schedule, timezone, enabled)
            values (${input.name}, ${input.kind}, ${JSON.stringify(settings)}::jsonb, ${sealed}, ${input.schedule ?? null}, ${timezone}, ${input.enabled ?? true})
            returning id`.execute(db)
        : await sql<{ id: number }>`update source set name = ${input.name}, kind = ${input.kind}, settings = ${JSON.stringify(settings)}::jsonb, secrets = ${sealed},
            schedule = ${input.schedule ?? null}, timezone = ${timezone}, enabled = ${input.enabled ?? true}, updated_at = now(),
            needs_attention = null
            where id = ${id} returning id`.execute(db);
      return rows[0]!.id;
    });
    return (await getSource(deps, savedId))!;
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new SourceError(`a source named '${input.name}' already exists`, 'conflict');
    throw error;
  }
}

type ViewRow = Omit<SourceView, 'nextRuns' | 'secretsSet' | 'state'> & { sealed: string | null };

const views = (where: ReturnType<typeof sql>) => sql<ViewRow>`
  select s.id, s.name, s.kind, coalesce(s.settings, '{}'::jsonb) as settings, s.secrets as sealed, s.schedule, s.timezone, s.enabled,
    s.needs_attention as "stateReason",
    (select json_build_object('id', r.id, 'status', r.status,
        'startedAt', to_char(r.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'finishedAt', to_char(r.finished_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
      from sync_run r where r.source_id = s.id order by r.id desc limit 1) as "lastRun"
  from source s ${where} order by s.name`;

function toView(deps: SourceDeps, row: ViewRow): SourceView {
  const { sealed, ...rest } = row;
  // Only the secrets a person sets; token caches a connector keeps are its own business.
  const declared = deps.connectors[row.kind]?.secrets ?? [];
  const secretsSet = sealed ? Object.keys(deps.box.open<Record<string, unknown>>(sealed)).filter((k) => declared.includes(k)) : [];
  let nextRuns: string[] = [];
  if (row.schedule && row.enabled) {
    const task = cron.createTask(row.schedule, () => {}, { timezone: row.timezone });
    nextRuns = task.getNextRuns(3).map((d) => d.toISOString());
    void task.destroy();
  }
  return { ...rest, state: row.stateReason ? 'reauthorize' : 'ok', secretsSet, nextRuns };
}

export async function listSources(deps: SourceDeps): Promise<SourceView[]> {
  const { rows } = await views(sql``).execute(deps.orm.em.fork().getKysely());
  return rows.map((r) => toView(deps, r));
}

/** A source by id or name. */
export async function getSource(deps: SourceDeps, idOrName: number | string): Promise<SourceView | undefined> {
  const where = typeof idOrName === 'number' ? sql`where s.id = ${idOrName}` : sql`where s.name = ${idOrName}`;
  const { rows } = await views(where).execute(deps.orm.em.fork().getKysely());
  return rows[0] && toView(deps, rows[0]);
}

/**
 * Deletes a source and its run history. Refused while any row of the shared schema came from it
 * (tombstones included): those rows would lose their provenance. Disable the source instead, or let
 * a bulk run empty it first.
 */
export async function deleteSource(deps: SourceDeps, id: number): Promise<void> {
  await deps.orm.em.fork().transactional(async (tx) => {
    const db = tx.getKysely();
    const { rows } = await sql<{ id: number }>`select id from source where id = ${id} for update`.execute(db);
    if (!rows[0]) throw new SourceError(`source ${id} does not exist`, 'missing');
    const owned = entitySpecs.map((spec) => sql`select 1 from ${sql.table(spec.table)} where source_id = ${id}`);
    const { rows: any } = await sql`select 1 from (${sql.join(owned, sql` union all `)}) x limit 1`.execute(db);
    if (any.length) throw new SourceError(`source ${id} still owns rows of the shared schema; disable it instead`, 'conflict');
    await sql`delete from sync_run where source_id = ${id}`.execute(db);
    await sql`delete from source where id = ${id}`.execute(db);
  });
}

/** The source's connector and its full settings (secrets opened), for a sync or a connection test. */
async function contextOf(deps: SourceDeps, idOrName: number | string, signal: AbortSignal, trigger: string) {
  const db = deps.orm.em.fork().getKysely();
  const where = typeof idOrName === 'number' ? sql`id = ${idOrName}` : sql`name = ${idOrName}`;
  const { rows } = await sql<{ id: number; name: string; kind: string; settings: Record<string, unknown> | null; secrets: string | null }>`
    select id, name, kind, settings, secrets from source where ${where}`.execute(db);
  const row = rows[0];
  if (!row) throw new SourceError(`source ${idOrName} does not exist`, 'missing');
  const connector = connectorOf(deps, row.kind);
  const settings = { ...(row.settings ?? {}), ...(row.secrets ? deps.box.open<Record<string, unknown>>(row.secrets) : {}) };
  const ctx: SyncContext = {
    source: { id: row.id, name: row.name }, settings, signal, trigger, logger: deps.logger, config: deps.config, orm: deps.orm,
    tokens: sourceTokenStore(deps, row.id),
  };
  return { connector, ctx };
}

/**
 * The source's OAuth token state, kept in its sealed secrets (`refreshToken`, and `tokenCache` for
 * the access token): each change happens under the source row's lock, in one transaction with
 * reading the state, so concurrent runs and processes take turns and see each other's tokens.
 */
function sourceTokenStore(deps: SourceDeps, id: number): TokenStore {
  return {
    exclusive: (work) => deps.orm.em.fork().transactional(async (tx) => {
      const db = tx.getKysely();
      const { rows } = await sql<{ secrets: string | null }>`select secrets from source where id = ${id} for no key update`.execute(db);
      const secrets = rows[0]?.secrets ? deps.box.open<Record<string, string>>(rows[0].secrets) : {};
      const cache = secrets.tokenCache ? (JSON.parse(secrets.tokenCache) as { accessToken?: string; expiresAt?: number }) : {};
      const { state, value } = await work({ refreshToken: secrets.refreshToken, ...cache });
      if (state) {
        const next: Record<string, string> = { ...secrets, tokenCache: JSON.stringify({ accessToken: state.accessToken, expiresAt: state.expiresAt }) };
        if (state.refreshToken) next.refreshToken = state.refreshToken;
        await sql`update source set secrets = ${deps.box.seal(next)} where id = ${id}`.execute(db);
      }
      return value;
    }),
  };
}

/** Marks the source as needing new credentials, or clears that once a run got through. */
async function setAttention(deps: SourceDeps, id: number, reason: string | null) {
  await sql`update source set needs_attention = ${reason} where id = ${id} and needs_attention is distinct from ${reason}`.execute(deps.orm.em.fork().getKysely());
}

export async function testSource(deps: SourceDeps, idOrName: number | string): Promise<string> {
  const { connector, ctx } = await contextOf(deps, idOrName, new AbortController().signal, 'test');
  return connector.test ? connector.test(ctx) : 'this kind has no connection test';
}

/**
 * Syncs a source once through reconcile; undefined when the connector had nothing to do. A source
 * already syncing elsewhere is refused (SourceBusyError), across processes, before its connector
 * opens: opening may act on the source (the drop folder moves packages), and only the process that
 * runs the source may.
 */
export async function syncSource(
  deps: SourceDeps, idOrName: number | string, trigger: string, signal = new AbortController().signal, onRun?: (runId: number) => void,
  /** The queued run (src/sync/queue.ts) this sync starts, if one. */
  queued?: number,
): Promise<RunSummary | undefined> {
  const { connector, ctx } = await contextOf(deps, idOrName, signal, trigger);
  return withSourceLock(deps.orm, ctx.source.id, ctx.source.name, async (lock) => {
    // Another process may have started it and finished before this one got the lock.
    if (queued !== undefined && !(await stillQueued(deps.orm, queued))) return undefined;
    let pull: Awaited<ReturnType<Connector['open']>>;
    try {
      pull = await connector.open(ctx);
    } catch (error) {
      // A source that cannot even be opened (bad credentials, a folder gone) still leaves a run behind,
      // so the failure is where an admin looks for it.
      if (error instanceof ReauthorizeError) await setAttention(deps, ctx.source.id, error.message);
      const summary = await recordFailedRun(deps.orm, ctx.source.id, trigger, `could not start: ${error instanceof Error ? error.message : String(error)}`, queued);
      onRun?.(summary.runId);
      return summary;
    }
    if (!pull) return queued === undefined ? undefined : closeIdleRun(deps.orm, queued);
    let summary: RunSummary | undefined;
    let refused: ReauthorizeError | undefined;
    // Credentials refused part-way end the run like any source error; the source remembers why.
    const batches = (async function* () {
      try {
        yield* pull.batches;
      } catch (error) {
        if (error instanceof ReauthorizeError) refused = error;
        throw error;
      }
    })();
    try {
      summary = await reconcile(deps.orm, {
        source: ctx.source.name, sourceKind: connector.kind, mode: 'bulk', batches, scope: () => pull.complete(), checkpoint: () => pull.checkpoint?.(),
        atomic: pull.atomic, holdShare: deps.config.SYNC_HOLD_SHARE, batchSize: deps.config.SYNC_BATCH_SIZE, trigger, onRun, lock, queued,
      });
      await setAttention(deps, ctx.source.id, refused?.message ?? null);
      return summary;
    } finally {
      await pull.finished?.(summary);
    }
  });
}
