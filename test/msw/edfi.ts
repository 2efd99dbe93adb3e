/**
 * An Ed-Fi API as ODS/API 7.x or the DMS serves it (reference: edfi.md §2), for the connector's
 * tests: the ODS layout (`/data/v3/ed-fi`, `/oauth/token`, `Total-Count`) or the DMS one
 * (`/data/ed-fi`, `/connect/token`, `Next-Page-Token` cursors, pages that come back empty while a
 * token still follows); with or without a discovery document and change queries. Failures (429,
 * 5xx, an expired token) are injected with msw.
 */

import { createHash } from 'node:crypto';

type Doc = Record<string, unknown>;
const d = (name: string, code: string) => `uri://ed-fi.org/${name}#${code}`;
/** A resource id as the ODS/API writes them (32 hex digits), from a readable name. */
export const edfiId = (name: string) => createHash('md5').update(name).digest('hex');

export interface EdfiApiOptions {
  style: 'ods' | 'dms';
  clientId: string;
  clientSecret: string;
  /** Serve `GET /` (the discovery document). */
  discovery?: boolean;
  /** Serve change queries. */
  changeQueries?: boolean;
  /** Send Total-Count when asked (default true); some APIs ignore totalCount. */
  totals?: boolean;
  /** Offer GET …/partitions (ODS/API 7.3): contiguous ranges of each listing, paged by range tokens. */
  partitions?: boolean;
  /** The first range's pages answer this much later (so later ranges finish first). */
  slowFirstRangeMs?: number;
}

/** A school with its year: one session, course, section, two students, a teacher and their associations. */
export function edfiSample(): Record<string, Doc[]> {
  const school = 255901001;
  const sectionReference = { localCourseCode: 'ALG-1', schoolId: school, schoolYear: 2025, sectionIdentifier: 'ALG-1-01', sessionName: 'Fall' };
  return {
    localEducationAgencies: [{ id: edfiId('lea1'), localEducationAgencyId: 255901, nameOfInstitution: 'Grand Bend ISD', localEducationAgencyCategoryDescriptor: d('LocalEducationAgencyCategoryDescriptor', 'Regular public school district'), categories: [] }],
    schools: [{ id: edfiId('sch1'), schoolId: school, nameOfInstitution: 'Grand Bend High', localEducationAgencyReference: { localEducationAgencyId: 255901, link: { rel: 'LocalEducationAgency', href: '/ed-fi/localEducationAgencies/lea1' } }, educationOrganizationCategories: [], gradeLevels: [] }],
    sessions: [{ id: edfiId('ses1'), schoolReference: { schoolId: school }, schoolYearTypeReference: { schoolYear: 2025 }, sessionName: 'Fall', beginDate: '2024-08-19', endDate: '2024-12-20', termDescriptor: d('TermDescriptor', 'Fall Semester'), totalInstructionalDays: 80 }],
    gradingPeriods: [],
    courses: [{ id: edfiId('crs1'), courseCode: 'ALG-1', courseTitle: 'Algebra I', numberOfParts: 1, educationOrganizationReference: { educationOrganizationId: 255901 }, identificationCodes: [] }],
    courseOfferings: [{ id: edfiId('co1'), localCourseCode: 'ALG-1', courseReference: { courseCode: 'ALG-1', educationOrganizationId: 255901 }, schoolReference: { schoolId: school }, sessionReference: { schoolId: school, schoolYear: 2025, sessionName: 'Fall' } }],
    sections: [{ id: edfiId('sec1'), sectionIdentifier: 'ALG-1-01', courseOfferingReference: { localCourseCode: 'ALG-1', schoolId: school, schoolYear: 2025, sessionName: 'Fall' } }],
    students: [
      { id: edfiId('stu1'), studentUniqueId: '1001', firstName: 'Ada', lastSurname: 'Lovelace', birthDate: '2010-05-01' },
      { id: edfiId('stu2'), studentUniqueId: '1002', firstName: 'Alan', lastSurname: 'Turing', birthDate: '2010-06-23' },
    ],
    staffs: [{ id: edfiId('sta1'), staffUniqueId: 'T1', firstName: 'Grace', lastSurname: 'Hopper' }],
    contacts: [],
    studentSchoolAssociations: [
      { id: edfiId('ssa1'), schoolReference: { schoolId: school }, studentReference: { studentUniqueId: '1001' }, entryDate: '2024-08-19', entryGradeLevelDescriptor: d('GradeLevelDescriptor', 'Ninth grade') },
      { id: edfiId('ssa2'), schoolReference: { schoolId: school }, studentReference: { studentUniqueId: '1002' }, entryDate: '2024-08-19', entryGradeLevelDescriptor: d('GradeLevelDescriptor', 'Tenth grade') },
    ],
    staffEducationOrganizationAssignmentAssociations: [{ id: edfiId('seoaa1'), beginDate: '2024-08-01', educationOrganizationReference: { educationOrganizationId: school }, staffReference: { staffUniqueId: 'T1' }, staffClassificationDescriptor: d('StaffClassificationDescriptor', 'Secondary Teacher') }],
    studentEducationOrganizationAssociations: [],
    studentContactAssociations: [],
    staffSectionAssociations: [{ id: edfiId('ssec1'), beginDate: '2024-08-19', sectionReference, staffReference: { staffUniqueId: 'T1' }, classroomPositionDescriptor: d('ClassroomPositionDescriptor', 'Teacher of Record') }],
    studentSectionAssociations: [
      { id: edfiId('stsec1'), beginDate: '2024-08-19', sectionReference, studentReference: { studentUniqueId: '1001' } },
      { id: edfiId('stsec2'), beginDate: '2024-08-19', sectionReference, studentReference: { studentUniqueId: '1002' } },
    ],
  };
}

export class FakeEdfiApi {
  readonly base: string;
  readonly data: Record<string, Doc[]>;
  readonly options: EdfiApiOptions;
  readonly requests: string[] = [];
  readonly tokens = new Set<string>();
  versions = { oldestChangeVersion: 0, newestChangeVersion: 10 };
  /** Serve every listing in reverse (pages of parallel readers arrive in any order). */
  reversed = false;
  #issued = 0;

  constructor(base: string, data: Record<string, Doc[]>, options: EdfiApiOptions) {
    this.base = base;
    this.data = data;
    this.options = options;
  }

  get dataRoot() {
    return `${this.base}${this.options.style === 'dms' ? '/data/ed-fi' : '/data/v3/ed-fi'}`;
  }

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    const tokenPath = this.options.style === 'dms' ? '/connect/token' : '/oauth/token';
    if (url.pathname === '/' && this.options.discovery) {
      return Response.json({ version: '7.3', urls: { oauth: `${this.base}${tokenPath}`, dataManagementApi: `${this.base}${this.options.style === 'dms' ? '/data/' : '/data/v3/'}`, changeQueries: `${this.base}/changeQueries/v1/` } });
    }
    if (url.pathname === tokenPath && request.method === 'POST') return this.#token(request);
    if (!this.tokens.has((request.headers.get('authorization') ?? '').replace(/^Bearer /, ''))) {
      return Response.json({ detail: 'Authorization denied.', type: 'urn:ed-fi:api:security:authentication', status: 401 }, { status: 401 });
    }
    if (url.pathname === '/changeQueries/v1/availableChangeVersions' && this.options.changeQueries) return Response.json(this.versions);
    const prefix = new URL(this.dataRoot).pathname + '/';
    const name = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : '';
    const partitioned = /^(\w+)\/partitions$/.exec(name);
    if (partitioned && this.options.partitions && this.data[partitioned[1]!]) {
      const items = this.data[partitioned[1]!]!;
      const n = Math.min(Number(url.searchParams.get('number')), items.length);
      const size = Math.ceil(items.length / n);
      const ranges = Array.from({ length: n }, (_, i) => [i * size, Math.min(items.length, (i + 1) * size)]).filter(([a, b]) => a! < b!);
      return Response.json({ pageTokens: ranges.map((r) => Buffer.from(JSON.stringify(r)).toString('base64url')) });
    }
    const items = this.data[name];
    if (!items) return Response.json({ detail: 'The specified data could not be found.', type: 'urn:ed-fi:api:not-found', status: 404 }, { status: 404 });
    return this.#page(url, this.reversed ? [...items].reverse() : items);
  };

  async #page(url: URL, items: Doc[]): Promise<Response> {
    const headers = new Headers({ 'content-type': 'application/json' });
    const token = url.searchParams.get('pageToken');
    const range = token && this.options.partitions ? (JSON.parse(Buffer.from(token, 'base64url').toString()) as [number, number]) : undefined;
    if (range) {
      const [start, end] = range;
      const size = Number(url.searchParams.get('pageSize'));
      if (start === 0 && this.options.slowFirstRangeMs) await new Promise((r) => setTimeout(r, this.options.slowFirstRangeMs));
      if (start + size < end) headers.set('next-page-token', Buffer.from(JSON.stringify([start + size, end])).toString('base64url'));
      return new Response(JSON.stringify(items.slice(start, Math.min(start + size, end))), { headers });
    }
    if (this.options.style === 'dms' && token !== null) {
      // The cursor is the next index; a page of deleted items comes back empty with a token still following.
      const size = Number(url.searchParams.get('pageSize'));
      const start = Number(token);
      const page = items.slice(start, start + size).filter((i) => !i._deleted);
      if (start + size < items.length) headers.set('next-page-token', String(start + size));
      return new Response(JSON.stringify(page), { headers });
    }
    const limit = Number(url.searchParams.get('limit') ?? 25);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    if (url.searchParams.get('totalCount') === 'true' && this.options.totals !== false) headers.set('total-count', String(items.length));
    if (this.options.style === 'dms' && offset + limit < items.length) headers.set('next-page-token', String(offset + limit));
    return new Response(JSON.stringify(items.slice(offset, offset + limit).filter((i) => !i._deleted)), { headers });
  }

  async #token(request: Request): Promise<Response> {
    const basic = request.headers.get('authorization');
    const [id, secret] = basic?.startsWith('Basic ') ? Buffer.from(basic.slice(6), 'base64').toString().split(':') : [];
    if (id !== this.options.clientId || secret !== this.options.clientSecret) return Response.json({ error: 'invalid_client' }, { status: 401 });
    const token = `tok-${++this.#issued}`;
    this.tokens.add(token);
    return Response.json({ access_token: token, expires_in: 1800, token_type: 'bearer' });
  }
}
