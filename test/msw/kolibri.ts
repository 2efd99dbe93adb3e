import { http, type HttpHandler } from 'msw';

/**
 * A fake Kolibri (reference: connectors.md §3): session login with the `kolibri` and
 * `kolibri_csrftoken` cookies and Kolibri's error arrays, `session/current`, facilities, facility
 * users paged on request (`{page,count,total_pages,results}`, 404 past the end, a bare array without
 * `page_size`), classrooms with coaches, memberships, learner groups, all under a configurable
 * path prefix. Like Kolibri, an anonymous (expired) session reads `200 []`. One `fetch` serves msw
 * (tests) and a real HTTP server (the benchmark); failures are injected with msw `server.use`.
 */

export interface Role { collection: string; kind: string; id: string }
export interface FacilityUser { id: string; username: string; full_name: string; facility: string; id_number: string; is_superuser: boolean; roles: Role[] }
export interface Facility { id: string; name: string }
export interface Classroom { id: string; name: string; parent: string }
export interface LearnerGroup { id: string; name: string; parent: string; user_ids: string[] }
export interface Membership { id: string; collection: string; user: string }

export interface KolibriWorld {
  facilities: Facility[];
  users: FacilityUser[];
  classrooms: Classroom[];
  groups: LearnerGroup[];
  memberships: Membership[];
  /** Passwords of the users that may log in. */
  passwords: Record<string, string>;
}

/** A 32-hex Kolibri id from a number and a kind tag (stable, readable in failures). */
export const kid = (tag: number, n: number) => `${tag.toString(16).padStart(4, '0')}${n.toString(16).padStart(28, '0')}`;

const F1 = '4a7fd5b1c0d24b0e9d1e6f3b2a9c8d71';
const F2 = '5b8fe6c2d1e35c1f0e2f7a4c3b0d9e82';
const C1 = 'c0ffee00c0ffee00c0ffee00c0ffee01';
const C2 = 'c0ffee00c0ffee00c0ffee00c0ffee02';
const C3 = 'c0ffee00c0ffee00c0ffee00c0ffee03';

/**
 * Two facilities. North: a facility admin (the service account), a classroom-assignable coach who
 * coaches one classroom, learners with every kind of name, an admin who also coaches, and an empty
 * classroom; South: one classroom and learner, readable only by a superuser.
 */
export function smallKolibri(): KolibriWorld {
  const user = (id: string, username: string, full_name: string, facility: string, roles: Role[] = [], extra: Partial<FacilityUser> = {}): FacilityUser =>
    ({ id, username, full_name, facility, id_number: '', is_superuser: false, roles, ...extra });
  const users = [
    user('aaaa0000000000000000000000000001', 'sync-admin', 'Sync Service', F1, [{ collection: F1, kind: 'admin', id: kid(1, 1) }]),
    user('9f1c2b3a4d5e6f708192a3b4c5d6e7f8', 'jlee123', 'Jordan Avery Lee', F1, [], { id_number: 'DOC-123456' }),
    user('1b2c3d4e5f60718293a4b5c6d7e8f901', 'mteacher', 'Morgan Teacher', F1, [
      { collection: F1, kind: 'classroom assignable coach', id: 'aa11bb22cc33dd44ee55ff6677889900' },
      { collection: C1, kind: 'coach', id: 'bb22cc33dd44ee55ff66778899001122' },
    ]),
    user('2c3d4e5f60718293a4b5c6d7e8f90a1b', 'acruz', '  Ana María   de la Cruz ', F1),
    user('3d4e5f60718293a4b5c6d7e8f90a1b2c', 'cher', 'Cher', F1),
    user('4e5f60718293a4b5c6d7e8f90a1b2c3d', 'noname', '', F1),
    user('5f60718293a4b5c6d7e8f90a1b2c3d4e', 'principal', 'Pat Principal', F1, [
      { collection: F1, kind: 'admin', id: kid(1, 2) },
      { collection: C2, kind: 'coach', id: kid(1, 3) },
    ]),
    user('60718293a4b5c6d7e8f90a1b2c3d4e5f', 'root', 'Device Owner', F2, [], { is_superuser: true }),
    user('718293a4b5c6d7e8f90a1b2c3d4e5f60', 'slearner', 'Sam Learner', F2),
  ];
  const membership = (collection: string, u: string, n: number): Membership => ({ id: kid(2, n), collection, user: u });
  return {
    facilities: [{ id: F1, name: 'North Facility Learning Center' }, { id: F2, name: 'South Facility' }],
    users,
    classrooms: [{ id: C1, name: 'GED Math - Tue/Thu', parent: F1 }, { id: C2, name: 'Reading Circle', parent: F1 }, { id: C3, name: 'Welding Basics', parent: F2 }],
    groups: [{ id: 'd00dfeed00d00dfeed00d00dfeed0001', name: 'Group A', parent: C1, user_ids: ['9f1c2b3a4d5e6f708192a3b4c5d6e7f8'] }],
    memberships: [
      ...users.map((u, i) => membership(u.facility, u.id, 100 + i)),
      membership(C1, '9f1c2b3a4d5e6f708192a3b4c5d6e7f8', 1),
      membership(C1, '2c3d4e5f60718293a4b5c6d7e8f90a1b', 2),
      membership(C1, '3d4e5f60718293a4b5c6d7e8f90a1b2c', 3),
      membership('d00dfeed00d00dfeed00d00dfeed0001', '9f1c2b3a4d5e6f708192a3b4c5d6e7f8', 4),
      membership(C3, '718293a4b5c6d7e8f90a1b2c3d4e5f60', 5),
    ],
    passwords: { 'sync-admin': 'correct horse battery', root: 'superuser-pw', jlee123: 'learner-pw' },
  };
}

/** One facility of `users` users (a coach per classroom), `classrooms` classrooms and `memberships` classroom memberships. */
export function bigKolibri(size: { users: number; classrooms: number; memberships: number }): KolibriWorld {
  const facility = kid(0xf, 1);
  const world: KolibriWorld = {
    facilities: [{ id: facility, name: 'Big Facility' }], users: [], classrooms: [], groups: [], memberships: [],
    passwords: { 'sync-admin': 'pw' },
  };
  world.users.push({ id: kid(0xa, 0), username: 'sync-admin', full_name: 'Sync Service', facility, id_number: '', is_superuser: false, roles: [{ collection: facility, kind: 'admin', id: kid(0xb, 0) }] });
  for (let c = 0; c < size.classrooms; c++) world.classrooms.push({ id: kid(0xc, c), name: `Classroom ${c}`, parent: facility });
  for (let u = 1; u < size.users; u++) {
    const coachOf = u <= size.classrooms ? world.classrooms[u - 1] : undefined;
    world.users.push({
      id: kid(0xa, u), username: `user${u}`, full_name: `Given${u} Family${u}`, facility, id_number: `ID-${u}`, is_superuser: false,
      roles: coachOf ? [{ collection: coachOf.id, kind: 'coach', id: kid(0xb, u) }] : [],
    });
  }
  const learners = world.users.slice(size.classrooms + 1);
  for (let m = 0; m < size.memberships; m++) {
    world.memberships.push({ id: kid(0xd, m), collection: world.classrooms[m % size.classrooms]!.id, user: learners[m % learners.length]!.id });
  }
  return world;
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const error = (status: number, id: string, metadata: Record<string, unknown> = {}) => json([{ id, metadata }], status);

export class FakeKolibri {
  /** The base URL, path prefix included, ending in `/`. */
  readonly base: string;
  world: KolibriWorld;
  readonly requests: string[] = [];
  readonly sessions = new Map<string, { user: FacilityUser; csrf: string }>();
  logouts = 0;
  #next = 0;

  constructor(base: string, world: KolibriWorld) {
    this.base = base.endsWith('/') ? base : `${base}/`;
    this.world = world;
  }

  handlers(): HttpHandler[] {
    return [http.all(`${this.base}*`, ({ request }) => this.fetch(request))];
  }

  /** Every session idles out: the next requests are anonymous, as after 20 minutes in Kolibri. */
  expireSessions() {
    this.sessions.clear();
  }

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (!url.toString().startsWith(this.base)) return error(404, 'NOT_FOUND');
    const path = url.toString().slice(this.base.length).split('?')[0]!;
    this.requests.push(`${request.method} ${path}${url.search}`);
    const cookies = Object.fromEntries((request.headers.get('cookie') ?? '').split(';').map((c) => c.trim().split('=')).filter((c) => c.length === 2));
    const session = this.sessions.get(cookies.kolibri ?? '');
    if (path === 'api/auth/session/' && request.method === 'POST') return this.#login((await request.json().catch(() => ({}))) as { username?: string; password?: string; facility?: string });
    if (path === 'api/auth/session/current/' && request.method === 'DELETE') {
      if (!session || request.headers.get('x-csrftoken') !== session.csrf) return json({ detail: 'CSRF Failed: CSRF token missing or incorrect.' }, 403);
      this.sessions.delete(cookies.kolibri!);
      this.logouts++;
      return json({});
    }
    if (request.method !== 'GET') return error(405, 'METHOD_NOT_ALLOWED');
    const me = session?.user;
    const kind = me ? this.#kinds(me) : ['anonymous'];
    const admin = kind.includes('admin') || kind.includes('superuser');
    // What this session may read: a superuser everything, a facility admin their facility, anonymous nothing.
    const readable = (facility: string) => admin && (me!.is_superuser || me!.facility === facility);
    const q = url.searchParams;
    const w = this.world;
    const facilityOf = (collection: string) => w.facilities.find((f) => f.id === collection)?.id
      ?? w.classrooms.find((c) => c.id === collection)?.parent
      ?? w.classrooms.find((c) => c.id === w.groups.find((g) => g.id === collection)?.parent)?.parent;
    switch (path) {
      case 'api/auth/session/current/':
        return json({ id: 'current', username: me?.username ?? '', full_name: me?.full_name ?? '', user_id: me?.id ?? null, kind, facility_id: me?.facility ?? w.facilities[0]?.id, can_manage_content: Boolean(me?.is_superuser), server_time: new Date().toISOString() });
      case 'api/auth/facility/':
        return json(w.facilities.filter((f) => readable(f.id)).map((f) => ({
          ...f, num_classrooms: w.classrooms.filter((c) => c.parent === f.id).length, num_users: w.users.filter((u) => u.facility === f.id).length,
          last_successful_sync: null, last_failed_sync: null, dataset: { id: f.id.replace(/^./, '0'), preset: 'formal', extra_fields: { pin_code: null } },
        })));
      case 'api/auth/facilityuser/': {
        const member = q.get('member_of');
        const users = w.users
          .filter((u) => readable(u.facility) && (!member || u.facility === member || w.memberships.some((m) => m.collection === member && m.user === u.id)))
          .sort((a, b) => (a.username < b.username ? -1 : 1))
          .map((u) => ({ ...u, gender: 'NOT_SPECIFIED', birth_year: 'NOT_SPECIFIED', extra_demographics: null, date_joined: '2024-08-28T09:02:11.123456-05:00' }));
        if (!q.has('page_size') || !admin) return json(users);
        const size = Number(q.get('page_size'));
        const page = Number(q.get('page') ?? 1);
        const totalPages = Math.max(1, Math.ceil(users.length / size));
        if (page > totalPages) return error(404, 'NOT_FOUND', { view: 'Facility User' });
        return json({ page, count: users.length, total_pages: totalPages, results: users.slice((page - 1) * size, page * size) });
      }
      case 'api/auth/classroom/':
        return json(w.classrooms.filter((c) => readable(c.parent) && (!q.get('parent') || c.parent === q.get('parent'))).map((c) => ({
          ...c, learner_count: w.memberships.filter((m) => m.collection === c.id).length,
          coaches: w.users.filter((u) => u.roles.some((r) => r.kind === 'coach' && r.collection === c.id)).map((u) => ({ id: u.id, facility: u.facility, is_superuser: u.is_superuser, full_name: u.full_name, username: u.username, roles: u.roles })),
        })));
      case 'api/auth/learnergroup/':
        return json(w.groups.filter((g) => readable(facilityOf(g.parent) ?? '') && (!q.get('parent') || g.parent === q.get('parent'))));
      case 'api/auth/membership/': {
        const collection = q.get('collection');
        return json(w.memberships.filter((m) => (!collection || m.collection === collection) && readable(facilityOf(m.collection) ?? '')));
      }
    }
    return error(404, 'NOT_FOUND');
  };

  #kinds(user: FacilityUser): string[] {
    const kinds = user.is_superuser ? ['superuser', 'admin'] : [...new Set(user.roles.map((r) => (r.kind === 'admin' ? 'admin' : 'coach')))];
    return kinds.length ? kinds : ['learner'];
  }

  #login(body: { username?: string; password?: string; facility?: string }): Response {
    const user = this.world.users.find((u) => u.username === body.username && u.facility === body.facility);
    if (!user) return error(400, 'NOT_FOUND', { field: 'username', message: 'Username not found.' });
    if (!body.password) return error(400, 'MISSING_PASSWORD', { field: 'password' });
    if (this.world.passwords[user.username] !== body.password) return error(401, 'INVALID_CREDENTIALS');
    const sid = `s${++this.#next}`;
    const csrf = `csrf${this.#next}`;
    this.sessions.set(sid, { user, csrf });
    const path = new URL(this.base).pathname;
    const headers = new Headers({ 'content-type': 'application/json' });
    headers.append('set-cookie', `kolibri=${sid}; HttpOnly; Path=${path}; SameSite=Lax`);
    headers.append('set-cookie', `kolibri_csrftoken=${csrf}; Path=${path}; SameSite=Lax`);
    return new Response(JSON.stringify({ id: 'current', username: user.username, full_name: user.full_name, user_id: user.id, kind: this.#kinds(user), facility_id: user.facility, can_manage_content: user.is_superuser, server_time: new Date().toISOString(), app_context: false }), { status: 200, headers });
  }
}
