import { z } from 'zod';
import type { Connector, SyncContext } from '../../src/sync/connector.ts';
import type { HttpClientOptions } from '../../src/sync/http.ts';
import { addTo, PullLog, type Scope } from '../../src/sync/pull.ts';
import type { EntityName, OrgRecord, RecordBatch, RecordsByEntity } from '../../src/sync/records.ts';
import { daySetting, idPrefixSetting, orgTypeSetting, secureUrl } from '../../src/sync/settings.ts';
import { dateIn, schoolYearAround, zoneOr } from '../../src/text/dates.ts';
import { BrightspaceClient, BrightspaceRefusal } from './client.ts';
import {
  BrightspaceMapper, courseOffering, orgUnit, orgUnitUser, organization, ouType, section, userData,
  type CourseOffering, type OrgUnit, type RosterRole,
} from './map.ts';

/**
 * The Brightspace (D2L) connector (reference: connectors.md §4, §6). Every run is full: the
 * organization, org units of the configured types (departments → schools by default), semesters,
 * course templates and offerings from the org structure, each offering's details and enrollments
 * (and sections, when they are the classes), then every user. A listing the app's token may not
 * read (a missing scope: 403 Problem Details) is skipped with an issue and leaves what depends on it
 * incomplete.
 */

const rosterRole = z.enum(['student', 'teacher', 'aide', 'skip']);

const settings = z.object({
  baseUrl: secureUrl('The tenant, e.g. https://school.brightspace.com'),
  tokenEndpoint: secureUrl('OAuth 2.0 token endpoint').default('https://auth.brightspace.com/core/connect/token'),
  clientId: z.string().min(1).describe('The OAuth 2.0 app (Manage Extensibility)'),
  clientSecret: z.string().min(1),
  refreshToken: z.string().min(1).optional().describe('From the app\'s authorization; rotates on every use. Leave out for client credentials'),
  scope: z.string().min(1).optional().describe('Scopes to ask for (client credentials), e.g. "users:userdata:read enrollment:orgunit:read orgunits:course:read role:detail:read"'),
  lpVersion: z.string().regex(/^1\.\d+$/, 'a Learning Platform version such as 1.43').default('1.43'),
  orgUnitTypes: z.record(z.string(), orgTypeSetting).default({ Department: 'school' }).describe('Org unit type codes synced as orgs, with their OneRoster type'),
  roles: z.record(z.string(), rosterRole).default({ Learner: 'student', Student: 'student', Instructor: 'teacher', Teacher: 'teacher', 'Teaching Assistant': 'aide', TA: 'aide' })
    .describe('Brightspace role name → student, teacher, aide or skip; roles not named are skipped'),
  sectionsAsClasses: z.boolean().default(false).describe('Each section of an offering is a class'),
  schoolYearStart: daySetting.optional().describe('Dates of semesters no offering dates (default 1 July of the current school year)'),
  schoolYearEnd: daySetting.optional(),
  idPrefix: idPrefixSetting('brightspace:<host>'),
});

type Settings = z.output<typeof settings>;
type Out<E extends EntityName> = RecordsByEntity[E][];
const ALL: readonly EntityName[] = ['org', 'academicSession', 'course', 'class', 'user', 'enrollment'];
const SCOPES = {
  orgUnits: { entity: 'org', incomplete: ['org', 'course', 'class', 'user', 'enrollment'] },
  semesters: { entity: 'academicSession', incomplete: ['academicSession', 'class', 'user', 'enrollment'] },
  templates: { entity: 'course', incomplete: ['course', 'class', 'user', 'enrollment'] },
  offerings: { entity: 'class', incomplete: ['class', 'user', 'enrollment'] },
  enrollments: { entity: 'enrollment', incomplete: ['class', 'user', 'enrollment'] },
  users: { entity: 'user', incomplete: ['user'] },
  roles: { entity: 'enrollment', incomplete: [] },
} as const satisfies Record<string, Scope>;
const BATCH = 2000;
/** D2L's usual type ids, for tenants whose outypes/ cannot be read. */
const DEFAULT_TYPES: Record<string, string> = { Organization: '1', 'Course Template': '2', 'Course Offering': '3', Department: '203', Semester: '5' };

const refusal = (error: unknown) => (error instanceof BrightspaceRefusal ? error.message : undefined);

function clientOf(s: Settings, ctx: SyncContext, http?: Partial<HttpClientOptions>) {
  return new BrightspaceClient({
    baseUrl: s.baseUrl, lpVersion: s.lpVersion, signal: ctx.signal, http,
    oauth: { tokenEndpoint: s.tokenEndpoint, clientId: s.clientId, clientSecret: s.clientSecret, scope: s.scope, grant: s.refreshToken ? 'refresh_token' : 'client_credentials', tokens: ctx.tokens },
  });
}

/** The connector; `http` tunes the HTTP client (tests record waits instead of sleeping). */
export function brightspaceConnector(http?: Partial<HttpClientOptions>): Connector {
  return {
    kind: 'brightspace',
    settings,
    secrets: ['clientSecret', 'refreshToken'],

    async test(ctx) {
      const me = await clientOf(settings.parse(ctx.settings), ctx, http).get<{ UniqueName?: string; Identifier?: string }>('users/whoami');
      return `signed in to Brightspace as ${me.UniqueName ?? me.Identifier ?? 'the app'}`;
    },

    async open(ctx) {
      const s = settings.parse(ctx.settings);
      const client = clientOf(s, ctx, http);
      // Health and credentials first: a refused token stops the run before it starts.
      try {
        await client.get('users/whoami');
      } catch (error) {
        if (!(error instanceof BrightspaceRefusal)) throw error;
      }
      const org = organization.parse(await client.get('organization/info'));
      const zone = zoneOr(org.TimeZone, 'UTC');
      const today = dateIn(zone)(new Date().toISOString())!;
      const year = schoolYearAround(today);
      const mapper = new BrightspaceMapper({
        idPrefix: s.idPrefix ?? `brightspace:${new URL(s.baseUrl).host}`, timeZone: zone,
        schoolYear: { startDate: s.schoolYearStart ?? year.startDate, endDate: s.schoolYearEnd ?? year.endDate },
      });
      const run = new BrightspaceRun(client, mapper, s, org);
      return { batches: run.batches(), complete: () => run.complete() };
    },
  };
}

export const brightspace = brightspaceConnector();

class BrightspaceRun {
  readonly #client: BrightspaceClient;
  readonly #map: BrightspaceMapper;
  readonly #s: Settings;
  readonly #org: z.infer<typeof organization>;
  readonly #log = new PullLog('Brightspace', ALL);
  /** Roles each user's enrollments imply (`role|org`). */
  readonly #roles = new Map<string, Set<string>>();
  /** Enrollments whose role the role map does not name, by role name. */
  readonly #unmapped = new Map<string, number>();

  constructor(client: BrightspaceClient, mapper: BrightspaceMapper, s: Settings, org: z.infer<typeof organization>) {
    this.#client = client;
    this.#map = mapper;
    this.#s = s;
    this.#org = org;
  }

  complete() {
    return this.#log.complete();
  }

  async *batches(): AsyncGenerator<RecordBatch> {
    const types = await this.#types();
    const units: { unit: OrgUnit; type: OrgRecord['type'] }[] = [];
    for (const [code, type] of Object.entries(this.#s.orgUnitTypes)) {
      for (const unit of await this.#units(types, code, SCOPES.orgUnits)) units.push({ unit, type });
    }
    yield this.#log.batch('org', this.#map.orgs(this.#org, units));

    const templates = await this.#units(types, 'Course Template', SCOPES.templates);
    yield this.#log.batch('course', templates.map((t) => this.#map.template(t)));
    const semesters = await this.#units(types, 'Semester', SCOPES.semesters);

    const offerings: CourseOffering[] = [];
    const classes: Out<'class'> = [];
    for (const unit of await this.#units(types, 'Course Offering', SCOPES.offerings)) {
      const detail = this.#log.skippable(this.#one(`courses/${unit.Identifier}`), SCOPES.offerings, `offering ${unit.Identifier}`, refusal);
      for await (const found of detail) {
        const [offering] = this.#log.valid(courseOffering, 'class', [found]);
        if (!offering) continue;
        offerings.push(offering);
        if (!this.#s.sectionsAsClasses) classes.push(this.#map.offering(offering));
      }
      if (classes.length >= BATCH) yield this.#log.batch('class', classes.splice(0));
    }
    yield this.#log.batch('class', classes.splice(0));
    yield this.#log.batch('academicSession', this.#map.sessions(semesters, offerings));

    yield* this.#enrollments(offerings);
    yield* this.#users();
  }

  /** Org unit type ids by code, from outypes/ (D2L's usual ids if it cannot be read). */
  async #types(): Promise<Map<string, string>> {
    const types = new Map(Object.entries(DEFAULT_TYPES));
    for await (const list of this.#log.skippable(this.#one('outypes/'), SCOPES.roles, 'org unit types (D2L\'s usual type ids are used)', refusal)) {
      for (const t of this.#log.valid(ouType, 'org', list as unknown[])) types.set(t.Code, t.Id);
    }
    for (const code of Object.keys(this.#s.orgUnitTypes)) {
      if (!types.has(code)) this.#log.add('org', 'warning', 'unknown_org_unit_type', `org unit type '${code}' (orgUnitTypes setting) does not exist in this tenant`);
    }
    return types;
  }

  /** Every org unit of one type, from the org structure. */
  async #units(types: Map<string, string>, code: string, scope: Scope): Promise<OrgUnit[]> {
    const id = types.get(code);
    if (!id) return [];
    const units: OrgUnit[] = [];
    const pages = this.#client.pages<unknown>('orgstructure/', { orgUnitType: id });
    for await (const page of this.#log.skippable(pages, scope, `org units of type ${code}`, refusal)) units.push(...this.#log.valid(orgUnit, scope.entity, page));
    return units;
  }

  async *#one<T>(path: string): AsyncGenerator<T> {
    yield await this.#client.get<T>(path);
  }

  /** Each offering's enrollments (and, in section mode, its sections as classes). */
  async *#enrollments(offerings: readonly CourseOffering[]): AsyncGenerator<RecordBatch> {
    await this.#checkRoleNames();
    const classes: Out<'class'> = [];
    const enrollments: Out<'enrollment'> = [];
    for (const o of offerings) {
      const what = `enrollments of offering ${o.Identifier}`;
      const members: { user: string; role: RosterRole }[] = [];
      for await (const page of this.#log.skippable(this.#client.pages<unknown>(`enrollments/orgUnits/${o.Identifier}/users/`), SCOPES.enrollments, what, refusal)) {
        for (const e of this.#log.valid(orgUnitUser, 'enrollment', page)) {
          const role = this.#s.roles[e.Role.Name] ?? 'skip';
          if (role === 'skip') this.#unmapped.set(e.Role.Name, (this.#unmapped.get(e.Role.Name) ?? 0) + 1);
          else members.push({ user: e.User.Identifier, role });
        }
      }
      const school = this.#map.schoolOf(o);
      for (const m of members) addTo(this.#roles, m.user, `${m.role}|${school}`);
      if (!this.#s.sectionsAsClasses) {
        enrollments.push(...members.map((m) => this.#map.enrollment(o.Identifier, o, m.user, m.role, false)));
      } else {
        const sections = [];
        for await (const list of this.#log.skippable(this.#one(`${o.Identifier}/sections/`), SCOPES.enrollments, `sections of offering ${o.Identifier}`, refusal)) {
          sections.push(...this.#log.valid(section, 'class', list as unknown[]));
        }
        if (sections.length === 0) {
          // An offering without sections is its own class.
          classes.push(this.#map.offering(o));
          enrollments.push(...members.map((m) => this.#map.enrollment(o.Identifier, o, m.user, m.role, false)));
        }
        classes.push(...sections.map((s) => this.#map.section(s, o)));
        // Learners are in their sections; teachers and aides in none teach them all.
        for (const m of members) {
          const mine = sections.filter((s) => s.Enrollments.includes(m.user));
          for (const s of mine.length || m.role === 'student' ? mine : sections) enrollments.push(this.#map.enrollment(s.SectionId, o, m.user, m.role, true));
        }
        if (classes.length >= BATCH) yield this.#log.batch('class', classes.splice(0));
      }
      if (enrollments.length >= BATCH) yield this.#log.batch('enrollment', enrollments.splice(0));
    }
    if (this.#unmapped.size) {
      const list = [...this.#unmapped].map(([name, n]) => `${name} (${n})`).join(', ');
      this.#log.add('enrollment', 'warning', 'role_not_mapped', `enrollments in roles the roles setting does not map were left out: ${list}`);
    }
    if (classes.length) yield this.#log.batch('class', classes);
    yield this.#log.batch('enrollment', enrollments);
  }

  /** A roles setting none of whose names this tenant has would leave every enrollment out: say so. */
  async #checkRoleNames() {
    for await (const list of this.#log.skippable(this.#one('roles/'), SCOPES.roles, 'roles', refusal)) {
      const names = new Set((list as { DisplayName?: string; Code?: string }[]).flatMap((r) => [r.DisplayName, r.Code]));
      const mapped = Object.keys(this.#s.roles).filter((name) => this.#s.roles[name] !== 'skip');
      if (!mapped.some((name) => names.has(name))) {
        this.#log.add('enrollment', 'warning', 'roles_not_found', `none of the roles the roles setting maps (${mapped.join(', ')}) exist in this tenant`);
      }
    }
  }

  /** Every user, with the roles their enrollments imply; inactive users are kept (enabledUser false). */
  async *#users(): AsyncGenerator<RecordBatch> {
    const users: Out<'user'> = [];
    let left = 0;
    for await (const page of this.#log.skippable(this.#client.pages<unknown>('users/'), SCOPES.users, 'users', refusal)) {
      for (const u of this.#log.valid(userData, 'user', page)) {
        const record = this.#map.user(u, this.#roles.get(u.UserId) ?? []);
        if (record) users.push(record);
        else left++;
      }
      if (users.length >= BATCH) yield this.#log.batch('user', users.splice(0));
    }
    if (left) this.#log.add('user', 'warning', 'not_rostered', `${left} Brightspace users have no enrollment in a mapped role and were left out`);
    yield this.#log.batch('user', users);
  }
}

