import { z } from 'zod';
import type { Connector, SyncContext } from '../../src/sync/connector.ts';
import { HttpError, type HttpClientOptions } from '../../src/sync/http.ts';
import { PullLog } from '../../src/sync/pull.ts';
import type { EntityName, RecordBatch } from '../../src/sync/records.ts';
import { lastSucceededRun } from '../../src/sync/runs.ts';
import { idPrefixSetting, secureUrl } from '../../src/sync/settings.ts';
import { OneRosterClient, type Auth, type PageQuirk } from './client.ts';
import { OneRosterMapper } from './map.ts';

/**
 * The OneRoster REST connector (issue #13; reference: oneroster.md §1, §5): pulls a SIS's (or
 * another gateway's) OneRoster 1.2 or 1.1 API. Full runs list every collection and may tombstone
 * what the provider no longer has; between them, scheduled runs are incremental: only rows with
 * `dateLastModified` after the start of the last good run, `tobedeleted` ones becoming tombstones.
 * Demographics are read when the credentials may (a 403 skips them with an issue).
 */

const settings = z
  .object({
    baseUrl: secureUrl('The service root, e.g. https://sis.example/ims/oneroster/rostering/v1p2 (1.2) or …/ims/oneroster/v1p1 (1.1)'),
    version: z.enum(['1.2', '1.1']).optional().describe('OneRoster version (default: from the URL, v1p1 → 1.1, else 1.2)'),
    auth: z.enum(['oauth2', 'oauth1']).default('oauth2').describe('OAuth 2 client credentials, or OAuth 1.0a HMAC-SHA1 signing (1.1 providers)'),
    clientId: z.string().min(1).describe('Client id (OAuth 2) or consumer key (OAuth 1.0a)'),
    clientSecret: z.string().min(1).describe('Client secret, or consumer secret'),
    tokenUrl: secureUrl('OAuth 2 token endpoint').optional().describe('OAuth 2 token endpoint (default: from the provider\'s discovery document)'),
    clientAuth: z.enum(['basic', 'post']).default('basic').describe('How the client authenticates to the token endpoint: HTTP Basic, or client_id/client_secret in the body'),
    scope: z.string().min(1).optional().describe('Scopes to ask for, space-separated (default: what the client was granted)'),
    pageSize: z.coerce.number().int().min(1).max(10_000).default(1000).describe('limit per page'),
    demographics: z.boolean().default(true).describe('Read /demographics (needs the demographics scope)'),
    idPrefix: idPrefixSetting('none: the provider\'s sourcedIds as they are'),
    fullSyncHours: z.coerce.number().min(0).default(24).describe('Longest time between full runs; scheduled runs in between are incremental. 0: every run is full'),
  });

type Settings = z.output<typeof settings>;

const ROSTER: readonly EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'enrollment'];
/** Collections in dependency order: path, envelope key, entity. */
const COLLECTIONS = [
  { path: '/orgs', key: 'orgs', entity: 'org' },
  { path: '/academicSessions', key: 'academicSessions', entity: 'academicSession' },
  { path: '/courses', key: 'courses', entity: 'course' },
  { path: '/classes', key: 'classes', entity: 'class' },
  { path: '/users', key: 'users', entity: 'user' },
  { path: '/enrollments', key: 'enrollments', entity: 'enrollment' },
  { path: '/demographics', key: 'demographics', entity: 'demographics' },
] as const;

const versionOf = (s: Settings) => s.version ?? (/\/v1p1\/?$/.test(new URL(s.baseUrl).pathname) ? '1.1' : '1.2');

function clientOf(s: Settings, ctx: SyncContext, http?: Partial<HttpClientOptions>) {
  const auth: Auth = s.auth === 'oauth1'
    ? { kind: 'oauth1', consumerKey: s.clientId, consumerSecret: s.clientSecret }
    : { kind: 'oauth2', clientId: s.clientId, clientSecret: s.clientSecret, tokenUrl: s.tokenUrl, clientAuth: s.clientAuth, scope: s.scope, tokens: ctx.tokens };
  return new OneRosterClient({ baseUrl: s.baseUrl, auth, pageSize: s.pageSize, signal: ctx.signal, http });
}

/** The connector; `http` tunes the HTTP client (tests record waits instead of sleeping). */
export function oneRosterConnector(http?: Partial<HttpClientOptions>): Connector {
  return {
    kind: 'oneroster',
    settings,
    secrets: ['clientSecret'],

    async test(ctx) {
      const s = settings.parse(ctx.settings);
      const body = await clientOf(s, ctx, http).getJson('/orgs', { limit: '1' });
      const orgs = Array.isArray(body) ? body : ((body as { orgs?: unknown[] }).orgs ?? []);
      return `OneRoster ${versionOf(s)} answers; ${orgs.length ? 'orgs are readable' : 'no orgs yet'}`;
    },

    async open(ctx) {
      const s = settings.parse(ctx.settings);
      const client = clientOf(s, ctx, http);
      const last = s.fullSyncHours > 0 && ctx.trigger === 'schedule' ? await lastSucceededRun(ctx.orm, ctx.source.id, ROSTER) : null;
      const since = last && Date.now() - last.getTime() < s.fullSyncHours * 3_600_000 ? await lastSucceededRun(ctx.orm, ctx.source.id) : null;
      const run = new OneRosterRun(client, s, since);
      ctx.logger.info('oneroster sync', { source: ctx.source.name, version: versionOf(s), full: !since, since });
      return { batches: run.batches(), complete: () => run.complete() };
    },
  };
}

export const oneRoster = oneRosterConnector();

class OneRosterRun {
  readonly #client: OneRosterClient;
  readonly #settings: Settings;
  /** Incremental: rows changed after this instant. Full when null. */
  readonly #since: Date | null;
  readonly #log: PullLog;
  readonly #map: OneRosterMapper;
  readonly #told = new Set<string>();

  constructor(client: OneRosterClient, s: Settings, since: Date | null) {
    this.#client = client;
    this.#settings = s;
    this.#since = since;
    this.#log = new PullLog('OneRoster', since ? [] : [...ROSTER, ...(s.demographics ? ['demographics' as const] : [])]);
    this.#map = new OneRosterMapper(s.idPrefix, (entity, code, message) => this.#quirk(entity, code, message));
  }

  complete(): readonly EntityName[] {
    return this.#log.complete();
  }

  /** A provider's bend of the binding: a warning, once per kind and entity. */
  #quirk(entity: EntityName, code: string, message: string) {
    const key = `${entity}|${code}`;
    if (this.#told.has(key)) return;
    this.#told.add(key);
    this.#log.add(entity, 'warning', `provider_${code}`, `the provider ${message}; read all the same`);
  }

  async *batches(): AsyncGenerator<RecordBatch> {
    const params: Record<string, string> = this.#since ? { filter: `dateLastModified>'${this.#since.toISOString()}'` } : {};
    for (const c of COLLECTIONS) {
      if (c.entity === 'demographics' && !this.#settings.demographics) continue;
      const pages = this.#client.list(c.path, c.key, params, (quirk: PageQuirk) => this.#quirk(c.entity, quirk, QUIRKS[quirk]));
      const scope = { entity: c.entity, incomplete: c.entity === 'demographics' ? ['demographics' as const] : [c.entity] };
      // Only demographics may be refused (the scope is separate); anything else refused is the credentials' problem.
      const listing = c.entity === 'demographics'
        ? this.#log.skippable(pages, scope, 'demographics', (e) => (e instanceof HttpError && e.status === 403 ? 'the credentials may not read demographics' : undefined))
        : pages;
      for await (const page of listing) {
        yield this.#log.batch(c.entity, page.map((o) => this.#map[c.entity](o)) as never);
      }
    }
    // Issues told after the last page still reach the run.
    yield this.#log.batch('org', []);
  }
}

const QUIRKS: Record<PageQuirk, string> = {
  missing_envelope: 'answers with a bare list instead of the {"<collection>": [...]} envelope',
  relative_link: 'sends relative URLs in its Link header',
};
