import { z } from 'zod';
import type { Connector, SyncContext } from '../../src/sync/connector.ts';
import { HttpError, type HttpClientOptions } from '../../src/sync/http.ts';
import { PullLog } from '../../src/sync/pull.ts';
import type { EntityName, RecordBatch } from '../../src/sync/records.ts';
import { lastCheckpoint, lastSucceededRun } from '../../src/sync/runs.ts';
import { secureUrl } from '../../src/sync/settings.ts';
import { edfiIds, type Doc } from '../../standards/edfi/canonical.ts';
import { EdfiClient, type Window } from './client.ts';
import { EdfiMapper, offeringKey, People } from './map.ts';

/**
 * The Ed-Fi source connector (issue #13; reference: edfi.md §2.8, §2.9, §7.1): pulls an Ed-Fi
 * ODS/API or DMS (or another gateway's Ed-Fi door) into the canonical model by the rules the Ed-Fi
 * door writes with, so ids match. The first run, and one every `fullSyncHours`, reads every core
 * resource in dependency order and may tombstone what the API no longer has; the runs between read
 * change queries as Ed-Fi's API Publisher does: the change-version window since the last run, key
 * changes first, then upserts in dependency order, then deletes in reverse dependency order.
 */

const settings = z.object({
  baseUrl: secureUrl('The API root, where its discovery document is: https://host/api (ODS/API) or the DMS root'),
  style: z.enum(['ods', 'dms']).default('ods').describe('URL layout when the API has no discovery document: ODS/API (/data/v3, /oauth/token) or DMS (/data, /connect/token)'),
  tokenUrl: secureUrl('OAuth token endpoint').optional().describe('Token endpoint (default: from the discovery document, else by style)'),
  clientId: z.string().min(1).describe('API key (client id)'),
  clientSecret: z.string().min(1).describe('API secret'),
  clientAuth: z.enum(['basic', 'post']).default('basic').describe('How the client authenticates to the token endpoint: HTTP Basic, or client_id/client_secret in the body'),
  scope: z.string().min(1).optional().describe('An education organization id to narrow the token to'),
  pageSize: z.coerce.number().int().min(1).max(500).default(500).describe('Items per page (Ed-Fi allows at most 500)'),
  paging: z.enum(['auto', 'offset']).default('auto').describe('auto: the Next-Page-Token cursor where the API offers it, else limit/offset'),
  readers: z.coerce.number().int().min(1).max(8).default(2).describe('Partitions of a full listing read at once where the API offers /partitions (1: one reader)'),
  changeQueries: z.boolean().default(true).describe('Read only what changed between full runs (change queries)'),
  fullSyncHours: z.coerce.number().min(0).default(168).describe('Longest time between full runs; runs in between read change queries. 0: every run is full'),
});

type Settings = z.output<typeof settings>;

const ENTITIES: readonly EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'demographics', 'enrollment'];
/** Resources read, in dependency order (as /metadata/data/v3/dependencies orders them). */
const RESOURCES = [
  'localEducationAgencies', 'schools', 'sessions', 'gradingPeriods', 'courses', 'courseOfferings', 'sections',
  'students', 'staffs', 'contacts',
  'studentSchoolAssociations', 'staffEducationOrganizationAssignmentAssociations', 'studentEducationOrganizationAssociations', 'studentContactAssociations',
  'staffSectionAssociations', 'studentSectionAssociations',
] as const;
type Resource = (typeof RESOURCES)[number];
/** Resources whose key can change: their /keyChanges are read. */
const KEY_CHANGING = { sessions: 'academicSession', sections: 'class', studentSectionAssociations: 'enrollment' } as const;
/** Resources a claim set may refuse; the run goes on without them (and without tombstoning what depends on them). */
const OPTIONAL: Partial<Record<Resource, readonly EntityName[]>> = {
  contacts: ['user'], studentContactAssociations: ['user'], studentEducationOrganizationAssociations: ['demographics'], gradingPeriods: ['academicSession'],
};

function clientOf(s: Settings, ctx: SyncContext, http?: Partial<HttpClientOptions>) {
  return new EdfiClient({
    baseUrl: s.baseUrl, style: s.style, tokenUrl: s.tokenUrl, clientId: s.clientId, clientSecret: s.clientSecret, clientAuth: s.clientAuth,
    scope: s.scope, tokens: ctx.tokens, pageSize: s.pageSize, paging: s.paging, readers: s.readers, signal: ctx.signal, http,
  });
}

/** The connector; `http` tunes the HTTP client (tests record waits instead of sleeping). */
export function edfiConnector(http?: Partial<HttpClientOptions>): Connector {
  return {
    kind: 'edfi',
    settings,
    secrets: ['clientSecret'],

    async test(ctx) {
      const s = settings.parse(ctx.settings);
      const client = clientOf(s, ctx, http);
      const first = await client.list('schools').next();
      const versions = s.changeQueries ? await changeVersions(client) : null;
      return `the Ed-Fi API answers; ${first.value?.length ? 'schools are readable' : 'no schools yet'}; ${versions ? `change version ${versions.newest}` : 'no change queries'}`;
    },

    async open(ctx) {
      const s = settings.parse(ctx.settings);
      const client = clientOf(s, ctx, http);
      const versions = s.changeQueries ? await changeVersions(client) : null;
      const since = versions ? await incrementalFrom(ctx, s, versions.oldest) : null;
      const window = since !== null && versions ? { min: since + 1, max: versions.newest } : undefined;
      const run = new EdfiRun(client, ctx, window, s.pageSize);
      ctx.logger.info('edfi sync', { source: ctx.source.name, full: !window, window, newest: versions?.newest });
      return {
        batches: run.batches(),
        complete: () => run.complete(),
        checkpoint: () => (versions ? { changeVersion: versions.newest } : undefined),
      };
    },
  };
}

export const edfi = edfiConnector();

/** The API's change versions; null when it has no change queries (404). */
async function changeVersions(client: EdfiClient) {
  try {
    return await client.changeVersions();
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return null;
    throw error;
  }
}

/** The change version an incremental run starts after; null: this run is full. */
async function incrementalFrom(ctx: SyncContext, s: Settings, oldest: number): Promise<number | null> {
  if (s.fullSyncHours <= 0) return null;
  const lastFull = await lastSucceededRun(ctx.orm, ctx.source.id, ENTITIES);
  if (!lastFull || Date.now() - lastFull.getTime() >= s.fullSyncHours * 3_600_000) return null;
  const version = Number((await lastCheckpoint(ctx.orm, ctx.source.id))?.changeVersion ?? Number.NaN);
  // Changes older than the API keeps are gone: only a full run sees what they did.
  return Number.isFinite(version) && version + 1 >= oldest ? version : null;
}

class EdfiRun {
  readonly #client: EdfiClient;
  readonly #ctx: SyncContext;
  readonly #window: Window | undefined;
  readonly #log: PullLog;
  readonly #map: EdfiMapper;
  readonly #people: People;
  /** Course offerings' courseReference, by offering key (sections need them). */
  readonly #offerings = new Map<string, Doc>();
  readonly #pageSize: number;

  constructor(client: EdfiClient, ctx: SyncContext, window: Window | undefined, pageSize: number) {
    this.#client = client;
    this.#pageSize = pageSize;
    this.#ctx = ctx;
    this.#window = window;
    this.#log = new PullLog('Ed-Fi', window ? [] : ENTITIES);
    const em = ctx.orm.em.fork();
    this.#map = new EdfiMapper(em, ctx.source.id);
    this.#people = new People(window ? em : undefined);
  }

  complete(): readonly EntityName[] {
    return this.#log.complete();
  }

  /**
   * Pages of a resource (within the run's window, if any; matching `example`; `ordered`: in the
   * listing's order even when partitions are read at once); a refused optional resource ends with a warning.
   */
  #pages(resource: Resource, window = this.#window, example?: Record<string, string>, ordered = false): AsyncIterable<Doc[]> {
    const pages = this.#client.list(resource, { window, example, ordered });
    const incomplete = OPTIONAL[resource];
    if (!incomplete) return pages;
    return this.#log.skippable(pages, { entity: incomplete[0]!, incomplete }, resource, (e) =>
      (e instanceof HttpError && (e.status === 403 || e.status === 404) ? `the API answered ${e.status}` : undefined));
  }

  /**
   * A resource's /deletes or /keyChanges in the window. An API that does not offer them for a resource
   * (404) is told once as a warning; the next full run finds what they would have said.
   */
  async *#changed(kind: 'deletes' | 'keyChanges', resource: Resource, window: Window): AsyncGenerator<Doc[]> {
    try {
      yield* kind === 'deletes' ? this.#client.deletes(resource, window) : this.#client.keyChanges(resource, window);
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 404)) throw error;
      this.#log.add('org', 'warning', 'change_query_unsupported', `the API has no /${kind} for ${resource} (404); the next full run will find what it would have said`);
    }
  }

  /** Maps each item; one that cannot be mapped (a required member missing) is reported and left out. */
  #each<T>(resource: Resource, entity: string, items: Doc[], map: (doc: Doc) => T | undefined | false): T[] {
    const out: T[] = [];
    for (const doc of items) {
      try {
        const mapped = map(doc);
        if (mapped === false) {
          this.#log.add(entity, 'error', 'unresolved_reference', `${resource} item ${doc.id} refers to an item the API did not list; it is left out`, doc.id ?? null);
        } else if (mapped !== undefined) {
          out.push(mapped);
        }
      } catch (error) {
        this.#log.add(entity, 'error', 'invalid_edfi_object', `${resource} item ${doc.id ?? '(no id)'} cannot be read (${(error as Error).message}); it is left out`, doc.id ?? null);
      }
    }
    return out;
  }

  async *batches(): AsyncGenerator<RecordBatch> {
    if (this.#window) yield* this.#changes(this.#window);
    else yield* this.#full();
    // Issues told after the last page still reach the run.
    yield this.#log.batch('org', []);
  }

  /** Every core resource, in dependency order; people are built whole before they are written. */
  async *#full(): AsyncGenerator<RecordBatch> {
    const m = this.#map;
    for await (const page of this.#pages('localEducationAgencies')) yield this.#log.batch('org', this.#each('localEducationAgencies', 'org', page, m.localEducationAgency) as never);
    for await (const page of this.#pages('schools')) yield this.#log.batch('org', this.#each('schools', 'org', page, m.school) as never);
    for await (const page of this.#pages('sessions')) {
      await m.known('academicSession', page.map((d) => d.id));
      yield this.#log.batch('academicSession', this.#each('sessions', 'academicSession', page, (d) => m.session(d)) as never);
    }
    for await (const page of this.#pages('gradingPeriods')) yield this.#log.batch('academicSession', this.#each('gradingPeriods', 'academicSession', page, m.gradingPeriod) as never);
    for await (const page of this.#pages('courses')) yield this.#log.batch('course', this.#each('courses', 'course', page, m.course) as never);
    for await (const page of this.#pages('courseOfferings')) this.#keepOfferings(page);
    for await (const page of this.#pages('sections')) yield this.#log.batch('class', (await this.#sections(page)) as never);
    for (const resource of ['students', 'staffs', 'contacts'] as const) {
      for await (const page of this.#pages(resource)) this.#persons(resource, page);
    }
    // Roles are applied in the listing's order (a person's first role is primary, as the API wrote them),
    // however many readers read it.
    for (const resource of ['studentSchoolAssociations', 'staffEducationOrganizationAssignmentAssociations', 'studentContactAssociations'] as const) {
      for await (const page of this.#pages(resource, undefined, undefined, true)) this.#associations(resource, page);
    }
    const seoa = new Map<string, Doc[]>();
    for await (const page of this.#pages('studentEducationOrganizationAssociations')) {
      for (const doc of page) {
        const uid = doc.studentReference?.studentUniqueId;
        if (uid !== undefined) (seoa.get(String(uid)) ?? seoa.set(String(uid), []).get(String(uid))!).push(doc);
      }
    }
    for (const [uid, bodies] of seoa) this.#people.educationOrganizations(uid, oldestFirst(bodies));
    // Staff section associations give staff their teaching roles, so they are read before users are written.
    const staffEnrollments: unknown[] = [];
    for await (const page of this.#pages('staffSectionAssociations', undefined, undefined, true)) {
      await m.known('enrollment', page.map((d) => d.id));
      staffEnrollments.push(...this.#each('staffSectionAssociations', 'enrollment', page, (d) => this.#people.teaching(d) && m.enrollment('staff', d)));
    }
    yield* this.#peopleBatches();
    for (let i = 0; i < staffEnrollments.length; i += 1000) yield this.#log.batch('enrollment', staffEnrollments.slice(i, i + 1000) as never);
    for await (const page of this.#pages('studentSectionAssociations')) {
      await m.known('enrollment', page.map((d) => d.id));
      yield this.#log.batch('enrollment', this.#each('studentSectionAssociations', 'enrollment', page, (d) => m.enrollment('student', d)) as never);
    }
  }

  /**
   * What changed in the window, in the order Ed-Fi's API Publisher applies it: key changes, then
   * upserts in dependency order, then deletes in reverse. People are read back from the store and
   * changed; items deleted and created again within the window stay.
   */
  async *#changes(window: Window): AsyncGenerator<RecordBatch> {
    // Nothing changed since the last run: nothing to ask.
    if (window.min > window.max) return;
    const m = this.#map;
    // Changed items may refer to sessions and sections this run does not list (a full run lists them all).
    await m.loadKept('academicSession');
    await m.loadKept('class');
    const people = this.#people;
    const out = new Map<EntityName, Map<string, unknown>>(ENTITIES.map((e) => [e, new Map()]));
    const put = (entity: EntityName, records: { sourcedId: string }[]) => {
      for (const r of records) out.get(entity)!.set(r.sourcedId, r);
    };
    for (const [resource, entity] of Object.entries(KEY_CHANGING) as [Resource, (typeof KEY_CHANGING)[keyof typeof KEY_CHANGING]][]) {
      for await (const page of this.#changed('keyChanges', resource, window)) {
        await m.known(entity, page.map((c) => c.id));
        for (const change of page) m.keyChanged(entity, change);
      }
    }
    // A school association's key change: the role under the old key goes; the upsert brings it back under the new one.
    const ssaChanges: Doc[] = [];
    for await (const page of this.#changed('keyChanges', 'studentSchoolAssociations', window)) ssaChanges.push(...page);
    await people.load(ssaChanges.map((c) => personId('student', c.oldKeyValues?.studentUniqueId)));
    for (const c of ssaChanges) people.dropSchoolAssociation(c.oldKeyValues);

    for await (const page of this.#pages('localEducationAgencies')) put('org', this.#each('localEducationAgencies', 'org', page, m.localEducationAgency));
    for await (const page of this.#pages('schools')) put('org', this.#each('schools', 'org', page, m.school));
    for await (const page of this.#pages('sessions')) {
      await m.known('academicSession', page.map((d) => d.id));
      put('academicSession', this.#each('sessions', 'academicSession', page, (d) => m.session(d)));
    }
    for await (const page of this.#pages('gradingPeriods')) put('academicSession', this.#each('gradingPeriods', 'academicSession', page, m.gradingPeriod));
    for await (const page of this.#pages('courses')) put('course', this.#each('courses', 'course', page, m.course));
    for await (const page of this.#pages('courseOfferings')) this.#keepOfferings(page);
    for await (const page of this.#pages('sections')) put('class', await this.#sections(page));
    for (const resource of ['students', 'staffs', 'contacts'] as const) {
      for await (const page of this.#pages(resource)) {
        const kind = KINDS[resource];
        await people.load(page.map((d) => personId(kind, d[`${kind}UniqueId`])));
        this.#persons(resource, page);
      }
    }
    for (const resource of ['studentSchoolAssociations', 'staffEducationOrganizationAssignmentAssociations', 'studentContactAssociations'] as const) {
      for await (const page of this.#pages(resource)) {
        await people.load(page.flatMap((d) => peopleIn({ ...d.studentReference, ...d.staffReference, ...d.contactReference })));
        this.#associations(resource, page);
      }
    }
    const seoaStudents = new Set<string>();
    for await (const page of this.#pages('studentEducationOrganizationAssociations')) for (const d of page) seoaStudents.add(String(d.studentReference?.studentUniqueId));
    for await (const page of this.#changed('deletes', 'studentEducationOrganizationAssociations', window)) for (const d of page) seoaStudents.add(String(d.keyValues?.studentUniqueId));
    await this.#reprojectDemographics(seoaStudents);
    for await (const page of this.#pages('staffSectionAssociations')) {
      await people.load(page.flatMap((d) => peopleIn(d.staffReference ?? {})));
      await m.known('enrollment', page.map((d) => d.id));
      put('enrollment', this.#each('staffSectionAssociations', 'enrollment', page, (d) => people.teaching(d) && m.enrollment('staff', d)));
    }
    for await (const page of this.#pages('studentSectionAssociations')) {
      await m.known('enrollment', page.map((d) => d.id));
      put('enrollment', this.#each('studentSectionAssociations', 'enrollment', page, (d) => m.enrollment('student', d)));
    }

    // Deletes, dependents first.
    const gone = new Map<EntityName, Set<string>>(ENTITIES.map((e) => [e, new Set()]));
    // Deleted and created again within the window: it stays.
    const drop = (entity: EntityName, id: string) => {
      if (!out.get(entity)!.has(id) && !((entity === 'user' || entity === 'demographics') && people.listed.has(id))) gone.get(entity)!.add(id);
    };
    for (const resource of [...RESOURCES].reverse()) {
      if (resource === 'studentEducationOrganizationAssociations' || resource === 'courseOfferings') continue;
      const entries: Doc[] = [];
      for await (const page of this.#changed('deletes', resource, window)) entries.push(...page);
      if (!entries.length) continue;
      const entity = { sessions: 'academicSession', sections: 'class', staffSectionAssociations: 'enrollment', studentSectionAssociations: 'enrollment' }[resource as string];
      if (entity) await m.known(entity as 'class', entries.map((e) => e.id));
      await people.load(entries.flatMap((e) => peopleIn(e.keyValues ?? {})));
      for (const e of entries) this.#deleted(resource, e, drop);
    }

    const { users, demographics, roleless } = people.records();
    // Someone deleted in the window lost their roles on the way out: not worth telling.
    this.#roleless(roleless.filter((p) => !gone.get('user')!.has(p.sourcedId)));
    put('user', users as never);
    put('demographics', demographics as never);
    for (const entity of ENTITIES) {
      for (const id of gone.get(entity)!) out.get(entity)!.delete(id);
      const records = [...out.get(entity)!.values(), ...[...gone.get(entity)!].map((sourcedId) => ({ sourcedId, status: 'tobedeleted' }))];
      for (let i = 0; i < records.length; i += 1000) yield this.#log.batch(entity, records.slice(i, i + 1000) as never);
    }
  }

  /** One /deletes entry: a tombstone, or a person's role, agent or demographics undone. */
  #deleted(resource: Resource, e: Doc, drop: (entity: EntityName, id: string) => void) {
    const k = e.keyValues as Doc;
    const m = this.#map;
    const people = this.#people;
    switch (resource) {
      case 'localEducationAgencies': return drop('org', edfiIds.org(k.localEducationAgencyId));
      case 'schools': return drop('org', edfiIds.org(k.schoolId));
      case 'sessions': return drop('academicSession', m.keptOrRule('academicSession', e));
      case 'gradingPeriods': return drop('academicSession', m.keptOrRule('academicSession', e));
      case 'courses': return drop('course', edfiIds.course(k.educationOrganizationId, k.courseCode));
      case 'sections': return drop('class', m.keptOrRule('class', e));
      case 'students': {
        // A student's demographics go with them, as through the door.
        const id = personId('student', k.studentUniqueId);
        drop('demographics', id);
        return drop('user', id);
      }
      case 'staffs': case 'contacts': return drop('user', personId(KINDS[resource], k[`${KINDS[resource]}UniqueId`]));
      case 'studentSchoolAssociations': return people.dropSchoolAssociation(k);
      case 'staffEducationOrganizationAssignmentAssociations': return people.dropAssignment(k);
      case 'studentContactAssociations': return people.dropContact(k);
      case 'staffSectionAssociations': case 'studentSectionAssociations': return drop('enrollment', m.enrollmentId(e));
      default: return undefined;
    }
  }

  /** Every education organization association of these students, read again: demographics are projected from all of them. */
  async #reprojectDemographics(studentUniqueIds: Set<string>) {
    if (!studentUniqueIds.size) return;
    await this.#people.load([...studentUniqueIds].map((uid) => personId('student', uid)));
    const bodies = new Map<string, Doc[]>([...studentUniqueIds].map((uid) => [uid, []]));
    if (studentUniqueIds.size <= this.#pageSize) {
      for (const uid of studentUniqueIds) {
        for await (const page of this.#pages('studentEducationOrganizationAssociations', undefined, { studentUniqueId: uid })) bodies.get(uid)!.push(...page);
      }
    } else {
      // More students than a page holds (a new school year): one pass over the listing rather than a query each.
      for await (const page of this.#pages('studentEducationOrganizationAssociations', undefined)) {
        for (const doc of page) bodies.get(String(doc.studentReference?.studentUniqueId))?.push(doc);
      }
    }
    for (const [uid, found] of bodies) this.#people.educationOrganizations(uid, oldestFirst(found));
  }

  #keepOfferings(page: Doc[]) {
    for (const doc of page) {
      const key = { localCourseCode: doc.localCourseCode, schoolId: doc.schoolReference?.schoolId, schoolYear: doc.sessionReference?.schoolYear, sessionName: doc.sessionReference?.sessionName };
      if (doc.courseReference) this.#offerings.set(offeringKey(key), doc.courseReference);
    }
  }

  /** Sections of a page; an offering not read in this run (an incremental one) is asked for. */
  async #sections(page: Doc[]): Promise<{ sourcedId: string }[]> {
    await this.#map.known('class', page.map((d) => d.id));
    for (const doc of page) {
      const o = doc.courseOfferingReference;
      if (!o || this.#offerings.has(offeringKey(o))) continue;
      for await (const found of this.#client.list('courseOfferings', { example: { localCourseCode: o.localCourseCode, schoolId: o.schoolId, schoolYear: o.schoolYear, sessionName: o.sessionName } })) {
        this.#keepOfferings(found);
      }
    }
    return this.#each('sections', 'class', page, (d) => {
      const course = this.#offerings.get(offeringKey(d.courseOfferingReference));
      return course ? this.#map.section(d, course) : false;
    });
  }

  #persons(resource: 'students' | 'staffs' | 'contacts', page: Doc[]) {
    this.#each(resource, 'user', page, (d) => this.#people.person(KINDS[resource], d));
  }

  #associations(resource: 'studentSchoolAssociations' | 'staffEducationOrganizationAssignmentAssociations' | 'studentContactAssociations', page: Doc[]) {
    const people = this.#people;
    const apply = { studentSchoolAssociations: people.schoolAssociation, staffEducationOrganizationAssignmentAssociations: people.assignment, studentContactAssociations: people.contact }[resource];
    this.#each(resource, 'user', page, (d) => (apply.call(people, d) ? undefined : false));
  }

  *#peopleBatches(): Generator<RecordBatch> {
    const { users, demographics, roleless } = this.#people.records();
    this.#roleless(roleless);
    for (let i = 0; i < users.length; i += 1000) yield this.#log.batch('user', users.slice(i, i + 1000) as never);
    for (let i = 0; i < demographics.length; i += 1000) yield this.#log.batch('demographics', demographics.slice(i, i + 1000) as never);
  }

  /** People with no school or organization association have no OneRoster role: told, not written. */
  #roleless(people: Doc[]) {
    for (const p of people) {
      this.#log.add('user', 'warning', 'no_role', `${p.identifier} has no school or education organization association, so no OneRoster role; not written`, p.nativeKey ?? null);
    }
  }
}

const KINDS = { students: 'student', staffs: 'staff', contacts: 'contact' } as const;

const personId = edfiIds.person;

/** The people named by key values (an association's references, or a deleted item's keyValues). */
const peopleIn = (keys: Doc): string[] => (['student', 'staff', 'contact'] as const)
  .filter((kind) => keys[`${kind}UniqueId`] !== undefined).map((kind) => personId(kind, keys[`${kind}UniqueId`]));

const oldestFirst = (bodies: Doc[]) =>
  [...bodies].sort((a, b) => String(a._lastModifiedDate ?? '').localeCompare(String(b._lastModifiedDate ?? '')) || String(a.id).localeCompare(String(b.id)));

