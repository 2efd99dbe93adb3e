import { z } from 'zod';
import type { Connector, SyncContext } from '../../src/sync/connector.ts';
import type { HttpClientOptions } from '../../src/sync/http.ts';
import { PullLog } from '../../src/sync/pull.ts';
import { daySetting, idPrefixSetting } from '../../src/sync/settings.ts';
import type { EntityName, RecordBatch, RecordsByEntity } from '../../src/sync/records.ts';
import { schoolYearAround } from '../../src/text/dates.ts';
import { KolibriClient } from './client.ts';
import {
  kolibriClassroom, kolibriFacility, kolibriGroup, kolibriId, kolibriMembership, kolibriUser, KolibriMapper,
  type KolibriClassroom,
} from './map.ts';

/**
 * The Kolibri connector (reference: connectors.md §3, §6). Every run is full: the facilities the
 * service account may read, their classrooms, each classroom's memberships, the learner groups and
 * the facility users. Kolibri has no change feed, and a whole facility is a few hundred requests.
 */

const settings = z.object({
  baseUrl: z.url().describe('Kolibri address with its path prefix if it has one, e.g. http://10.0.0.5:8080 or https://school.example/kolibri/'),
  username: z.string().min(1).describe('A facility admin (or superuser) service account'),
  password: z.string().min(1),
  facilityId: kolibriId.describe('The service account\'s facility'),
  facilityIds: z.array(kolibriId).optional().describe('Facilities to sync (default: every facility the account may read)'),
  districtName: z.string().min(1).optional().describe('Name of the district org standing for this Kolibri server (default "Kolibri (<host>)")'),
  schoolYearStart: daySetting.optional().describe('Start of the school year classrooms belong to (default 1 July of the current one)'),
  schoolYearEnd: daySetting.optional().describe('End of that school year (default 30 June)'),
  idPrefix: idPrefixSetting('kolibri:<host>'),
});

type Settings = z.output<typeof settings>;
type Out<E extends EntityName> = RecordsByEntity[E][];
const ALL: readonly EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'enrollment'];
const BATCH = 2000;

function clientOf(s: Settings, ctx: SyncContext, http?: Partial<HttpClientOptions>) {
  return new KolibriClient({ baseUrl: s.baseUrl, username: s.username, password: s.password, facilityId: s.facilityId, signal: ctx.signal, http });
}

/** The connector; `http` tunes the HTTP client (tests record waits instead of sleeping). */
export function kolibriConnector(http?: Partial<HttpClientOptions>): Connector {
  return {
    kind: 'kolibri',
    settings,
    secrets: ['password'],

    async test(ctx) {
      const client = clientOf(settings.parse(ctx.settings), ctx, http);
      await client.ensureSession();
      const facilities = await client.list('api/auth/facility/');
      await client.logout();
      return `signed in as a facility admin; ${facilities.length} facilit${facilities.length === 1 ? 'y' : 'ies'} readable`;
    },

    async open(ctx) {
      const s = settings.parse(ctx.settings);
      const client = clientOf(s, ctx, http);
      // Before any list is trusted: the account logs in and is an admin.
      await client.ensureSession();
      const host = new URL(s.baseUrl).host;
      const today = new Date().toISOString().slice(0, 10);
      const year = schoolYearAround(today);
      const mapper = new KolibriMapper({
        idPrefix: s.idPrefix ?? `kolibri:${host}`,
        districtName: s.districtName ?? `Kolibri (${host})`,
        schoolYear: { startDate: s.schoolYearStart ?? year.startDate, endDate: s.schoolYearEnd ?? year.endDate },
      });
      return {
        batches: new KolibriRun(client, mapper, s.facilityIds).batches(),
        complete: () => ALL,
        finished: () => client.logout(),
      };
    },
  };
}

export const kolibri = kolibriConnector();

class KolibriRun {
  readonly #client: KolibriClient;
  readonly #map: KolibriMapper;
  readonly #only?: Set<string>;
  readonly #log = new PullLog('Kolibri');

  constructor(client: KolibriClient, mapper: KolibriMapper, only?: readonly string[]) {
    this.#client = client;
    this.#map = mapper;
    this.#only = only && new Set(only);
  }

  async *batches(): AsyncGenerator<RecordBatch> {
    const facilities = this.#log.valid(kolibriFacility, 'org', await this.#client.list('api/auth/facility/'))
      .filter((f) => !this.#only || this.#only.has(f.id));
    for (const id of this.#only ?? []) {
      if (!facilities.some((f) => f.id === id)) throw new Error(`facility ${id} is not readable by the service account (or does not exist)`);
    }
    yield this.#log.batch('org', this.#map.orgs(facilities));
    yield this.#log.batch('academicSession', [this.#map.session()]);

    const classrooms: KolibriClassroom[] = [];
    for (const facility of facilities) {
      classrooms.push(...this.#log.valid(kolibriClassroom, 'class', await this.#client.list('api/auth/classroom/', { parent: facility.id })));
    }
    const mapped = classrooms.map((c) => this.#map.classroom(c));
    yield this.#log.batch('course', mapped.map((m) => m.course));
    yield this.#log.batch('class', mapped.map((m) => m.class));

    // Learner groups are kept on the learners' enrollments, not as classes.
    const groupsOf = new Map<string, string[]>();
    const known = new Set(classrooms.map((c) => c.id));
    const groups = classrooms.length ? this.#log.valid(kolibriGroup, 'class', await this.#client.list('api/auth/learnergroup/')) : [];
    for (const group of groups.filter((g) => known.has(g.parent))) {
      for (const user of group.user_ids) {
        const key = `${group.parent}|${user}`;
        groupsOf.set(key, [...(groupsOf.get(key) ?? []), group.name]);
      }
    }
    const enrollments: Out<'enrollment'> = [];
    for (const classroom of classrooms) {
      const members = this.#log.valid(kolibriMembership, 'enrollment', await this.#client.list('api/auth/membership/', { collection: classroom.id }));
      for (const user of new Set(members.filter((m) => m.collection === classroom.id).map((m) => m.user))) {
        enrollments.push(this.#map.learner(classroom, user, groupsOf.get(`${classroom.id}|${user}`) ?? []));
      }
      if (enrollments.length >= BATCH) yield this.#log.batch('enrollment', enrollments.splice(0));
    }

    const byId = new Map(classrooms.map((c) => [c.id, c]));
    const users: Out<'user'> = [];
    for (const facility of facilities) {
      for await (const page of this.#client.users<unknown>(facility.id)) {
        for (const user of this.#log.valid(kolibriUser, 'user', page)) {
          users.push(this.#map.user(user));
          // A coach role on a classroom (not the facility) makes its holder that class's teacher.
          for (const role of user.roles) {
            const classroom = role.kind === 'coach' ? byId.get(role.collection) : undefined;
            if (classroom) enrollments.push(this.#map.coach(classroom, user.id));
          }
        }
        if (users.length >= BATCH) yield this.#log.batch('user', users.splice(0));
      }
    }
    yield this.#log.batch('user', users);
    yield this.#log.batch('enrollment', enrollments);
  }
}
