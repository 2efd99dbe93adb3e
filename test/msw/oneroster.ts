import { signatureBase, percent } from '../../connectors/oneroster/oauth1.ts';
import { createHmac } from 'node:crypto';

/**
 * A OneRoster provider that bends the binding the ways SIS providers do (reference: oneroster.md
 * §5.7), for the connector's tests: 1.2 or 1.1 shapes, OAuth 2 client credentials or OAuth 1.0a
 * signatures (checked like a provider checks them), and per-collection quirks: JSON booleans,
 * comma-separated lists, a bare array instead of the envelope, relative `Link` URLs, no paging
 * headers at all, unknown fields. Failures (429, 5xx, an expired token) are injected with msw.
 */

export type Collection = 'orgs' | 'academicSessions' | 'courses' | 'classes' | 'users' | 'enrollments' | 'demographics';
type Json = Record<string, unknown>;

export interface ProviderOptions {
  version: '1.2' | '1.1';
  auth: 'oauth2' | 'oauth1';
  clientId: string;
  clientSecret: string;
  /** How each collection pages: `link` (Link and X-Total-Count), `total` (X-Total-Count only), `none` (neither; a short page ends). */
  paging?: Partial<Record<Collection, 'link' | 'total' | 'none'>>;
  /** Collections answered as a bare array. */
  bare?: Collection[];
  /** Link URLs relative to the request. */
  relativeLinks?: boolean;
  /** Caps limit (providers do). */
  maxLimit?: number;
}

export class FakeProvider {
  readonly base: string;
  readonly root: string;
  readonly data: Record<Collection, Json[]>;
  readonly options: ProviderOptions;
  readonly requests: string[] = [];
  readonly tokens = new Set<string>();
  #issued = 0;

  constructor(base: string, data: Record<Collection, Json[]>, options: ProviderOptions) {
    this.base = base;
    this.root = `${base}${options.version === '1.1' ? '/ims/oneroster/v1p1' : '/ims/oneroster/rostering/v1p2'}`;
    this.data = data;
    this.options = options;
  }

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    if (url.pathname === '/token' && request.method === 'POST') return this.#token(request);
    if (!this.#authorised(request, url)) return Response.json({ imsx_codeMajor: 'failure', imsx_severity: 'error', imsx_description: 'unauthorised' }, { status: 401 });
    const name = url.pathname.slice(new URL(this.root).pathname.length + 1) as Collection;
    const items = this.data[name];
    if (!items) return Response.json({ imsx_codeMajor: 'failure', imsx_severity: 'error', imsx_description: 'no such collection' }, { status: 404 });
    const filter = url.searchParams.get('filter');
    const since = filter ? /^dateLastModified>'(.+)'$/.exec(filter)?.[1] : undefined;
    const chosen = since ? items.filter((i) => String(i.dateLastModified) > since) : items;
    const limit = Math.min(Number(url.searchParams.get('limit') ?? 100), this.options.maxLimit ?? 1000);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const page = chosen.slice(offset, offset + limit);
    const headers = new Headers({ 'content-type': 'application/json' });
    const paging = this.options.paging?.[name] ?? 'link';
    if (paging !== 'none') headers.set('x-total-count', String(chosen.length));
    if (paging === 'link' && offset + limit < chosen.length) {
      const next = new URL(url);
      next.searchParams.set('offset', String(offset + limit));
      next.searchParams.set('limit', String(limit));
      headers.set('link', `<${this.options.relativeLinks ? `${next.pathname}${next.search}` : next}>; rel="next"`);
    }
    return new Response(JSON.stringify(this.options.bare?.includes(name) ? page : { [name]: page }), { headers });
  };

  async #token(request: Request): Promise<Response> {
    const form = new URLSearchParams(await request.text());
    const basic = /^Basic (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
    const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent) : [form.get('client_id'), form.get('client_secret')];
    if (id !== this.options.clientId || secret !== this.options.clientSecret) return Response.json({ error: 'invalid_client' }, { status: 401 });
    const token = `tok-${++this.#issued}`;
    this.tokens.add(token);
    return Response.json({ access_token: token, token_type: 'Bearer', expires_in: 3600 });
  }

  /** Bearer tokens it issued, or an OAuth 1.0a signature it can reproduce with the consumer secret. */
  #authorised(request: Request, url: URL): boolean {
    const header = request.headers.get('authorization') ?? '';
    if (this.options.auth === 'oauth2') return this.tokens.has(/^Bearer (.+)$/.exec(header)?.[1] ?? '');
    if (!header.startsWith('OAuth ')) return false;
    const params = [...header.slice(6).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)] as [string, string]);
    const given = params.find(([k]) => k === 'oauth_signature')?.[1];
    if (params.find(([k]) => k === 'oauth_consumer_key')?.[1] !== this.options.clientId) return false;
    const base = signatureBase(request.method, url, params.filter(([k]) => k !== 'oauth_signature'));
    const expected = createHmac('sha1', `${percent(this.options.clientSecret)}&`).update(base).digest('base64');
    return given === expected;
  }
}

/** A small roster in 1.2 shape, with the quirks a test asks for baked into the JSON. */
export function providerRoster(version: '1.2' | '1.1', stamp = '2024-09-01T00:00:00.000Z'): Record<Collection, Json[]> {
  const common = (sourcedId: string) => ({ sourcedId, status: 'active', dateLastModified: stamp });
  const ref = (type: string, sourcedId: string) => ({ href: `/${type}s/${sourcedId}`, sourcedId, type });
  const users: Json[] = version === '1.2'
    ? [
      { ...common('t1'), enabledUser: true, username: 'mkrabappel', givenName: 'Edna', familyName: 'Krabappel', email: 'edna@example.org', roles: [{ roleType: 'primary', role: 'teacher', org: ref('org', 's1') }], favouriteColour: 'teal' },
      { ...common('st1'), enabledUser: 'true', username: 'bart', givenName: 'Bart', familyName: 'Simpson', grades: '09', userIds: [{ type: 'SIS', identifier: '1001' }], roles: [{ roleType: 'primary', role: 'student', org: ref('org', 's1'), beginDate: '2024-08-15' }] },
      { ...common('st2'), status: 'tobedeleted', enabledUser: 'true', givenName: 'Gone', familyName: 'Student', roles: [] },
    ]
    : [
      { ...common('t1'), enabledUser: 'true', username: 'mkrabappel', givenName: 'Edna', familyName: 'Krabappel', role: 'teacher', orgs: [ref('org', 's1')] },
      { ...common('st1'), enabledUser: 'true', username: 'bart', givenName: 'Bart', familyName: 'Simpson', role: 'student', orgs: [ref('org', 's1')], grades: ['09'] },
      { ...common('a1'), enabledUser: 'true', username: 'chalmers', givenName: 'Gary', familyName: 'Chalmers', role: 'administrator', orgs: [ref('org', 'd1'), ref('org', 's1')] },
    ];
  return {
    orgs: [
      { ...common('d1'), name: 'Springfield District', type: 'district', identifier: 'NCES-1' },
      { ...common('s1'), name: 'Springfield Elementary', type: 'school', identifier: 101, parent: ref('org', 'd1') },
    ],
    academicSessions: [
      { ...common('y1'), title: '2024-2025', type: 'schoolYear', startDate: '2024-08-15', endDate: '2025-06-15', schoolYear: version === '1.1' ? 2025 : '2025' },
      { ...common('term1'), title: 'Fall', type: 'term', startDate: '2024-08-15', endDate: '2024-12-20', schoolYear: '2025', parent: ref('academicSession', 'y1') },
    ],
    courses: [{ ...common('c1'), title: 'Grade 4', courseCode: 'G4', org: ref('org', 'd1'), grades: ['04'] }],
    classes: [
      { ...common('cl1'), title: 'Grade 4 - A', classCode: 'G4A', classType: 'homeroom', course: ref('course', 'c1'), school: ref('org', 's1'), terms: [ref('academicSession', 'term1')], periods: '1,2' },
    ],
    users,
    enrollments: [
      { ...common('e1'), user: ref('user', 't1'), class: ref('class', 'cl1'), school: ref('org', 's1'), role: 'teacher', primary: true },
      { ...common('e2'), user: ref('user', 'st1'), class: ref('class', 'cl1'), school: ref('org', 's1'), role: 'student', primary: 'false' },
    ],
    demographics: [{ ...common('st1'), birthDate: '2014-04-01', sex: 'male', white: 'true', hispanicOrLatinoEthnicity: false }],
  };
}
