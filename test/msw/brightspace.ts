import { http, type HttpHandler } from 'msw';

/**
 * A fake Brightspace (reference: connectors.md §4): the OAuth 2.0 token endpoint with single-use,
 * rotating refresh tokens (a reused one is `400 invalid_grant`), Valence Learning Platform routes
 * with D2L's mixed id typing, `PagedResultSet` bookmark paging, credit headers
 * (`X-Rate-Limit-Remaining`, `-Reset`, `X-Request-Cost`), and Problem Details 403s for scopes the app
 * lacks. One `fetch` serves msw (tests) and a real HTTP server (the benchmark); other failures are
 * injected with msw `server.use`.
 */

export interface OrgUnitRow { Identifier: string; Name: string; Code: string | null; type: number }
export interface OfferingRow extends OrgUnitRow { template: string; semester: string | null; department: string | null; start: string | null; end: string | null; active: boolean }
export interface UserRow { UserId: number; UserName: string; FirstName: string; MiddleName: string | null; LastName: string; ExternalEmail: string | null; OrgDefinedId: string | null; active: boolean }
export interface EnrollmentRow { ou: string; user: string; roleId: number }
export interface SectionRow { SectionId: number; Name: string; Code: string | null; ou: string; users: number[] }

export interface BrightspaceWorld {
  org: { Identifier: string; Name: string; TimeZone: string };
  units: OrgUnitRow[];
  offerings: OfferingRow[];
  sections: SectionRow[];
  users: UserRow[];
  enrollments: EnrollmentRow[];
  roles: { Identifier: string; DisplayName: string; Code: string | null }[];
}

export const TYPES = [
  { Id: 1, Code: 'Organization', Name: 'Organization' },
  { Id: 2, Code: 'Course Template', Name: 'Course Template' },
  { Id: 3, Code: 'Course Offering', Name: 'Course Offering' },
  { Id: 5, Code: 'Semester', Name: 'Semester' },
  { Id: 203, Code: 'Department', Name: 'Department' },
];
const ROLES = [
  { Identifier: '110', DisplayName: 'Learner', Code: null },
  { Identifier: '109', DisplayName: 'Instructor', Code: null },
  { Identifier: '111', DisplayName: 'Teaching Assistant', Code: 'TA' },
  { Identifier: '112', DisplayName: 'Auditor', Code: null },
];

/**
 * Two departments, two semesters, two templates and four offerings (one without a semester or
 * department, inactive); learners, an instructor who is inactive, a TA, an auditor (a role not
 * mapped) and a user with no enrollment; sections in one offering.
 */
export function smallBrightspace(): BrightspaceWorld {
  const user = (UserId: number, UserName: string, FirstName: string, LastName: string, extra: Partial<UserRow> = {}): UserRow =>
    ({ UserId, UserName, FirstName, MiddleName: null, LastName, ExternalEmail: `${UserName}@north.example.org`, OrgDefinedId: null, active: true, ...extra });
  return {
    org: { Identifier: '6606', Name: 'Northwind Schools', TimeZone: 'America/New_York' },
    units: [
      { Identifier: '6650', Name: 'North Facility', Code: 'FAC-NORTH', type: 203 },
      { Identifier: '6651', Name: 'South Facility', Code: 'FAC-SOUTH', type: 203 },
      { Identifier: '6700', Name: 'Fall 2024', Code: '2024FA', type: 5 },
      { Identifier: '6701', Name: 'Spring 2025', Code: '2025SP', type: 5 },
      { Identifier: '123400', Name: 'GED Math Prep', Code: 'GED-MATH', type: 2 },
      { Identifier: '123401', Name: 'English Foundations', Code: 'ENG-F', type: 2 },
    ],
    offerings: [
      { Identifier: '123457', Name: 'GED Math Prep (North) - Fall 2024', Code: 'GED-MATH-2024F-N', type: 3, template: '123400', semester: '6700', department: '6650', start: '2024-09-03T05:00:00.000Z', end: '2024-12-20T06:00:00.000Z', active: true },
      { Identifier: '123458', Name: 'English Foundations (South) - Fall 2024', Code: 'ENG-F-2024F-S', type: 3, template: '123401', semester: '6700', department: '6651', start: '2024-09-10T04:00:00.000Z', end: '2024-12-13T05:00:00.000Z', active: true },
      { Identifier: '123459', Name: 'GED Math Prep (North) - Spring 2025', Code: 'GED-MATH-2025S-N', type: 3, template: '123400', semester: '6701', department: '6650', start: null, end: null, active: true },
      { Identifier: '123460', Name: 'Orientation', Code: null, type: 3, template: '123401', semester: null, department: null, start: null, end: null, active: false },
    ],
    sections: [
      { SectionId: 9001, Name: 'Section A', Code: 'A', ou: '123457', users: [40511] },
      { SectionId: 9002, Name: 'Section B', Code: 'B', ou: '123457', users: [40514] },
    ],
    users: [
      user(40511, 'jlee123', 'Jordan', 'Lee', { MiddleName: 'Avery', OrgDefinedId: 'DOC-123456' }),
      user(40512, 'mteacher', 'Morgan', 'Teacher', { ExternalEmail: null, OrgDefinedId: 'EMP-0042', active: false }),
      user(40513, 'tassist', 'Taylor', 'Assist'),
      user(40514, 'rchen', 'Riley', 'Chen', { OrgDefinedId: 'DOC-222' }),
      user(40515, 'audit', 'Alex', 'Auditor'),
      user(40516, 'idle', 'Ida', 'Idle'),
    ],
    enrollments: [
      { ou: '123457', user: '40511', roleId: 110 },
      { ou: '123457', user: '40514', roleId: 110 },
      { ou: '123457', user: '40512', roleId: 109 },
      { ou: '123457', user: '40513', roleId: 111 },
      { ou: '123457', user: '40515', roleId: 112 },
      { ou: '123458', user: '40514', roleId: 110 },
      { ou: '123458', user: '40512', roleId: 109 },
      { ou: '123459', user: '40511', roleId: 110 },
      { ou: '123460', user: '40511', roleId: 110 },
    ],
    roles: ROLES,
  };
}

/** A tenant of `users` users, `offerings` offerings (one instructor each) and `enrollments` enrollments in all. */
export function bigBrightspace(size: { users: number; offerings: number; enrollments: number }): BrightspaceWorld {
  const world: BrightspaceWorld = {
    org: { Identifier: '1000', Name: 'Big Tenant', TimeZone: 'America/Chicago' },
    units: [{ Identifier: '2000', Name: 'Department', Code: 'D', type: 203 }, { Identifier: '3000', Name: 'Year', Code: 'Y', type: 5 }, { Identifier: '4000', Name: 'Template', Code: 'T', type: 2 }],
    offerings: [], sections: [], users: [], enrollments: [], roles: ROLES,
  };
  for (let u = 0; u < size.users; u++) {
    world.users.push({ UserId: 100_000 + u, UserName: `user${u}`, FirstName: `Given${u}`, MiddleName: null, LastName: `Family${u}`, ExternalEmail: `user${u}@big.example.org`, OrgDefinedId: `ID-${u}`, active: true });
  }
  for (let o = 0; o < size.offerings; o++) {
    const id = String(500_000 + o);
    world.offerings.push({ Identifier: id, Name: `Offering ${o}`, Code: `O-${o}`, type: 3, template: '4000', semester: '3000', department: '2000', start: '2026-08-20T05:00:00.000Z', end: '2027-06-01T05:00:00.000Z', active: true });
    world.enrollments.push({ ou: id, user: String(100_000 + (o % size.users)), roleId: 109 });
  }
  const learners = size.users - size.offerings;
  for (let e = 0; world.enrollments.length < size.enrollments; e++) {
    world.enrollments.push({ ou: String(500_000 + (e % size.offerings)), user: String(100_000 + size.offerings + (e % learners)), roleId: 110 });
  }
  return world;
}

const PAGE = 100;
const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });

export class FakeBrightspace {
  readonly base: string;
  readonly tokenUrl: string;
  world: BrightspaceWorld;
  readonly requests: string[] = [];
  /** The refresh token that works now; every refresh spends it and issues the next. */
  refreshToken: string;
  readonly accessTokens = new Set<string>();
  /** Token requests answered, and refresh tokens presented after they were spent. */
  grants = 0;
  reused = 0;
  /** Route prefixes (after /d2l/api/lp/{v}/) the app has no scope for. */
  readonly denied = new Set<string>();
  /** Credits left in the current minute (D2L: 50 000 per app per minute, 10 per call). */
  remaining: number;
  readonly creditsPerMinute: number;
  #windowStart = Date.now();
  readonly client = { id: 'b2a7c1de-0000-4000-8000-00000000c11d', secret: 'd2l-app-secret' };
  #n = 0;
  #cache?: { enrollments: EnrollmentRow[]; users: UserRow[]; n: number; byOu: Map<string, EnrollmentRow[]>; byId: Map<string, UserRow> };

  constructor(base: string, world: BrightspaceWorld, options: { tokenUrl?: string; refreshToken?: string; creditsPerMinute?: number } = {}) {
    this.creditsPerMinute = options.creditsPerMinute ?? 50_000;
    this.remaining = this.creditsPerMinute;
    this.base = base.replace(/\/$/, '');
    this.tokenUrl = options.tokenUrl ?? 'https://auth.brightspace.com/core/connect/token';
    this.world = world;
    this.refreshToken = options.refreshToken ?? 'rt-0';
  }

  handlers(): HttpHandler[] {
    return [
      http.post(this.tokenUrl, ({ request }) => this.fetch(request)),
      http.all(`${this.base}/*`, ({ request }) => this.fetch(request)),
    ];
  }

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    this.requests.push(`${url.pathname}${url.search}`);
    if (request.method === 'POST' && url.toString().split('?')[0] === this.tokenUrl) return this.#token(new URLSearchParams(await request.text()));
    const bearer = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
    if (!bearer || !this.accessTokens.has(bearer)) return new Response('Unauthorized', { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });
    const m = /^\/d2l\/api\/lp\/(1\.\d+)\/(.*)$/.exec(url.pathname);
    if (!m) return new Response('Not Found', { status: 404 });
    const route = m[2]!;
    for (const prefix of this.denied) {
      if (route.startsWith(prefix)) {
        return json({ type: 'https://docs.valence.desire2learn.com/res/apiprop.html#scope', title: 'Forbidden', status: 403, detail: `Missing required scope for ${prefix}`, instance: url.pathname }, 403, { 'content-type': 'application/problem+json' });
      }
    }
    const response = this.#route(route, url.searchParams);
    // The bucket refills at the start of every minute.
    const elapsed = Date.now() - this.#windowStart;
    if (elapsed >= 60_000) {
      this.#windowStart += Math.floor(elapsed / 60_000) * 60_000;
      this.remaining = this.creditsPerMinute;
    }
    this.remaining = Math.max(0, this.remaining - 10);
    const headers = new Headers(response.headers);
    headers.set('x-rate-limit-remaining', String(this.remaining));
    headers.set('x-rate-limit-reset', String(Math.ceil((this.#windowStart + 60_000 - Date.now()) / 1000)));
    headers.set('x-request-cost', '10');
    return new Response(response.body, { status: response.status, headers });
  };

  #token(form: URLSearchParams): Response {
    if (form.get('client_id') !== this.client.id || form.get('client_secret') !== this.client.secret) return json({ error: 'invalid_client' }, 401);
    const grant = form.get('grant_type');
    let refresh: string | undefined;
    if (grant === 'refresh_token') {
      if (form.get('refresh_token') !== this.refreshToken) {
        this.reused++;
        return json({ error: 'invalid_grant', error_description: 'The refresh token is invalid or has already been used.' }, 400);
      }
      refresh = this.refreshToken = `rt-${++this.#n}`;
    } else if (grant !== 'client_credentials') {
      return json({ error: 'unsupported_grant_type' }, 400);
    }
    this.grants++;
    const access = `at-${++this.#n}`;
    this.accessTokens.add(access);
    return json({ access_token: access, token_type: 'Bearer', expires_in: 3600, scope: 'core:*:*', ...(refresh && { refresh_token: refresh }) });
  }

  #route(route: string, q: URLSearchParams): Response {
    const w = this.world;
    const notFound = () => json({ type: 'about:blank', title: 'Not Found', status: 404 }, 404, { 'content-type': 'application/problem+json' });
    const unitJson = (u: OrgUnitRow) => ({ Identifier: u.Identifier, Name: u.Name, Code: u.Code, Path: `/content/enforced/${u.Identifier}-${u.Code ?? ''}/`, Type: { ...TYPES.find((t) => t.Id === u.type)! } });
    if (route === 'users/whoami') return json({ Identifier: '1', FirstName: 'Roster', LastName: 'Sync', UniqueName: 'roster.sync', ProfileIdentifier: 'x', Pronouns: null });
    if (route === 'organization/info') return json(w.org);
    if (route === 'outypes/') return json(TYPES.map((t) => ({ ...t, Description: '', SortOrder: 0 })));
    if (route === 'roles/') return json(w.roles);
    if (route === 'orgstructure/') {
      const type = Number(q.get('orgUnitType'));
      const all = [...w.units, ...w.offerings].filter((u) => !type || u.type === type).map(unitJson);
      return this.#paged(all, q, (u) => u.Identifier);
    }
    if (route === 'users/') {
      const users = w.users.map((u) => ({
        OrgId: Number(w.org.Identifier), UserId: u.UserId, FirstName: u.FirstName, MiddleName: u.MiddleName, LastName: u.LastName, UserName: u.UserName,
        ExternalEmail: u.ExternalEmail, OrgDefinedId: u.OrgDefinedId, UniqueIdentifier: u.UserName, Activation: { IsActive: u.active },
        LastAccessedDate: null, DisplayName: `${u.FirstName} ${u.LastName}`, Pronouns: null,
      }));
      if (q.has('userName')) {
        const found = users.find((u) => u.UserName === q.get('userName'));
        return found ? json(found) : notFound();
      }
      return this.#paged(users, q, (u) => String(u.UserId));
    }
    let match = /^courses\/(\d+)$/.exec(route);
    if (match) {
      const o = w.offerings.find((x) => x.Identifier === match![1]);
      if (!o) return notFound();
      const unit = (id: string | null) => {
        const u = w.units.find((x) => x.Identifier === id);
        return u ? { Identifier: u.Identifier, Name: u.Name, Code: u.Code } : null;
      };
      return json({
        Identifier: o.Identifier, Name: o.Name, Code: o.Code, IsActive: o.active, Path: `/content/enforced/${o.Identifier}/`, StartDate: o.start, EndDate: o.end,
        CourseTemplate: unit(o.template), Semester: unit(o.semester), Department: unit(o.department),
        Description: { Text: '', Html: '' }, CanSelfRegister: false,
      });
    }
    match = /^(\d+)\/sections\/$/.exec(route);
    if (match) return json(w.sections.filter((s) => s.ou === match![1]).map((s) => ({ SectionId: s.SectionId, Name: s.Name, Code: s.Code, Description: { Text: '', Html: '' }, Enrollments: s.users })));
    match = /^enrollments\/orgUnits\/(\d+)\/users\/$/.exec(route);
    if (match) {
      const { byOu, byId } = this.#index();
      const items = (byOu.get(match[1]!) ?? []).map((e) => {
        const u = byId.get(e.user);
        const role = w.roles.find((r) => Number(r.Identifier) === e.roleId)!;
        return { User: { Identifier: e.user, DisplayName: u ? `${u.FirstName} ${u.LastName}` : '', EmailAddress: u?.ExternalEmail ?? null, OrgDefinedId: u?.OrgDefinedId ?? null, ProfileBadgeUrl: null, ProfileIdentifier: 'p' }, Role: { Id: e.roleId, Code: role.Code, Name: role.DisplayName } };
      });
      return this.#paged(items, q, (e) => e.User.Identifier);
    }
    return notFound();
  }

  /** Enrollments by org unit and users by id, rebuilt when a test replaces or grows those lists. */
  #index() {
    const { enrollments, users } = this.world;
    const i = this.#cache;
    if (i && i.enrollments === enrollments && i.users === users && i.n === enrollments.length + users.length) return i;
    const byOu = new Map<string, EnrollmentRow[]>();
    for (const e of enrollments) {
      const list = byOu.get(e.ou);
      if (list) list.push(e);
      else byOu.set(e.ou, [e]);
    }
    return (this.#cache = { enrollments, users, n: enrollments.length + users.length, byOu, byId: new Map(users.map((u) => [String(u.UserId), u])) });
  }

  /** A PagedResultSet of 100: the bookmark is the last item's id; more while any are left. */
  #paged<T>(items: T[], q: URLSearchParams, key: (item: T) => string): Response {
    const bookmark = q.get('bookmark');
    const start = bookmark ? items.findIndex((i) => key(i) === bookmark) + 1 : 0;
    const page = items.slice(start, start + PAGE);
    const more = start + PAGE < items.length;
    return json({ PagingInfo: { Bookmark: page.length ? key(page.at(-1)!) : bookmark, HasMoreItems: more }, Items: page });
  }
}
