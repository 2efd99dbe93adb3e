import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { md5 } from '../../standards/edfi/resources.ts';
import { BASE_PATH } from '../../standards/oneroster/rest/operations.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { edfiSchemas } from '../support/edfi-oas.ts';
import { defaults, smallDistrict } from '../support/roster.ts';

const ORIGIN = 'https://gw.example';
const ED = `${ORIGIN}/data/v3/ed-fi`;
const oas = edfiSchemas();
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
const tokens: Record<string, string> = {};

async function tokenFor(name: string, scopeList: string[]) {
  const client = await createClient(db.orm, { name, scopes: scopeList });
  const res = await app.request(`${ORIGIN}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  tokens[name] = ((await res.json()) as { access_token: string }).access_token;
}

const auth = (token: string | null) => (token ? { authorization: `Bearer ${token}` } : {});
const get = (path: string, token: string | null = tokens.writer!, headers: Record<string, string> = {}) =>
  app.request(path.startsWith('http') ? path : `${ED}${path}`, { headers: { ...auth(token), ...headers } });
const send = (method: string, path: string, body: unknown, headers: Record<string, string> = {}, token: string | null = tokens.writer!) =>
  app.request(path.startsWith('http') ? path : `${ED}${path}`, {
    method, headers: { 'content-type': 'application/json', ...auth(token), ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const post = (resource: string, body: unknown, headers: Record<string, string> = {}) => send('POST', `/${resource}`, body, headers);
const json = async (res: Response) => (await res.json()) as any;
const roster = (path: string) => app.request(`${ORIGIN}${BASE_PATH}${path}`, { headers: auth(tokens.roster!) });

const school = { schoolId: 255901001, nameOfInstitution: 'Grand Bend High School', localEducationAgencyReference: { localEducationAgencyId: 255901 },
  educationOrganizationCategories: [{ educationOrganizationCategoryDescriptor: 'uri://ed-fi.org/EducationOrganizationCategoryDescriptor#School' }],
  gradeLevels: [{ gradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Ninth grade' }] };
const session = { schoolReference: { schoolId: 255901001 }, schoolYearTypeReference: { schoolYear: 2022 }, sessionName: '2021-2022 Fall Semester',
  beginDate: '2021-08-23', endDate: '2021-12-17', termDescriptor: 'uri://ed-fi.org/TermDescriptor#Fall Semester', totalInstructionalDays: 81 };
const course = { courseCode: 'ALG-1', courseTitle: 'Algebra I', numberOfParts: 1, educationOrganizationReference: { educationOrganizationId: 255901 },
  identificationCodes: [{ courseIdentificationSystemDescriptor: 'uri://ed-fi.org/CourseIdentificationSystemDescriptor#LEA course code', identificationCode: 'ALG-1' }] };
const offering = { localCourseCode: 'ALG-1', courseReference: { courseCode: 'ALG-1', educationOrganizationId: 255901 }, schoolReference: { schoolId: 255901001 },
  sessionReference: { schoolId: 255901001, schoolYear: 2022, sessionName: '2021-2022 Fall Semester' }, localCourseTitle: 'Algebra I' };
const sectionKey = { localCourseCode: 'ALG-1', schoolId: 255901001, schoolYear: 2022, sectionIdentifier: 'ALG1-01', sessionName: '2021-2022 Fall Semester' };
const section = { sectionIdentifier: 'ALG1-01', sectionName: 'Algebra I, period 1', courseOfferingReference: { localCourseCode: 'ALG-1', schoolId: 255901001, schoolYear: 2022, sessionName: '2021-2022 Fall Semester' } };
const student = { studentUniqueId: '604821', firstName: 'Ada', lastSurname: 'Lovelace', middleName: 'King', birthDate: '2007-12-10',
  birthSexDescriptor: 'uri://ed-fi.org/SexDescriptor#Female', birthCity: 'London' };
const staff = { staffUniqueId: '207219', firstName: 'Charles', lastSurname: 'Babbage', loginId: 'cbabbage',
  electronicMails: [{ electronicMailAddress: 'cbabbage@gbisd.example', electronicMailTypeDescriptor: 'uri://ed-fi.org/ElectronicMailTypeDescriptor#Work' }] };
const ssa = { schoolReference: { schoolId: 255901001 }, studentReference: { studentUniqueId: '604821' }, entryDate: '2021-08-23',
  entryGradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Ninth grade' };
const staffSection = { beginDate: '2021-08-23', sectionReference: sectionKey, staffReference: { staffUniqueId: '207219' },
  classroomPositionDescriptor: 'uri://ed-fi.org/ClassroomPositionDescriptor#Teacher of Record' };
const studentSection = { beginDate: '2021-08-23', sectionReference: sectionKey, studentReference: { studentUniqueId: '604821' }, homeroomIndicator: false };

const locations: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-edfi' }), tokens: new TokenIssuer('s'.repeat(40), 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
  await tokenFor('writer', [scopes.edfiWrite]);
  await tokenFor('reader', [scopes.edfiRead]);
  await tokenFor('studentsOnly', ['urn:rostergate:scope:edfi.students.write']);
  await tokenFor('roster', [scopes.roster, scopes.rosterDemographics]);
});
afterAll(async () => {
  await db?.drop();
});

describe('Ed-Fi writes in dependency order, read back through both doors', () => {
  const lea = { localEducationAgencyId: 255901, nameOfInstitution: 'Grand Bend ISD',
    localEducationAgencyCategoryDescriptor: 'uri://ed-fi.org/LocalEducationAgencyCategoryDescriptor#Independent charter district',
    categories: [{ educationOrganizationCategoryDescriptor: 'uri://ed-fi.org/EducationOrganizationCategoryDescriptor#Local Education Agency' }] };
  const chain: [string, string, Record<string, unknown>][] = [
    ['localEducationAgencies', 'edFi_localEducationAgency', lea],
    ['schools', 'edFi_school', school],
    ['sessions', 'edFi_session', session],
    ['courses', 'edFi_course', course],
    ['courseOfferings', 'edFi_courseOffering', offering],
    ['sections', 'edFi_section', section],
    ['students', 'edFi_student', student],
    ['staffs', 'edFi_staff', staff],
    ['studentSchoolAssociations', 'edFi_studentSchoolAssociation', ssa],
    ['staffSectionAssociations', 'edFi_staffSectionAssociation', staffSection],
    ['studentSectionAssociations', 'edFi_studentSectionAssociation', studentSection],
  ];

  test.each(chain)('POST %s creates (201, Location, ETag); the item reads back valid and whole', async (resource, schema, body) => {
    const res = await post(resource, body);
    expect(res.status, await res.clone().text()).toBe(201);
    const location = res.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${ED}/${resource}/[0-9a-f-]{36}$`));
    expect(res.headers.get('etag')).toMatch(/^"\d+-[\w-]{8}"$/);
    locations[resource] = location;
    const read = await get(location);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(res.headers.get('etag'));
    const item = await json(read);
    expect(oas.validate(schema, item)).toEqual([]);
    expect(item).toMatchObject(body);
    expect(item.id).toBe(location.split('/').at(-1));
    expect(item._lastModifiedDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test('re-POSTing the same body changes nothing: 200, same ETag', async () => {
    for (const [resource, , body] of chain) {
      const before = await get(locations[resource]!);
      const res = await post(resource, body);
      expect(res.status, resource).toBe(200);
      expect(res.headers.get('etag'), resource).toBe(before.headers.get('etag'));
      expect(res.headers.get('location')).toBe(locations[resource]);
    }
  });

  test('every written record is a OneRoster record, with the ids Ed-Fi\'s OneRoster service would give it', async () => {
    const org = await json(await roster(`/schools/${md5('255901001')}`));
    expect(org.org).toMatchObject({ name: 'Grand Bend High School', type: 'school', identifier: '255901001', parent: { sourcedId: md5('255901') } });
    const term = await json(await roster(`/academicSessions/${md5('255901001-2022-2021-2022 Fall Semester')}`));
    expect(term.academicSession).toMatchObject({ title: '2021-2022 Fall Semester', type: 'semester', startDate: '2021-08-23', schoolYear: '2022' });
    const c = await json(await roster(`/courses/${md5('255901-ALG-1')}`));
    expect(c.course).toMatchObject({ title: 'Algebra I', courseCode: 'ALG-1', org: { sourcedId: md5('255901') } });
    const classId = md5('alg-1-255901001-2022-alg1-01-2021-2022 fall semester');
    const cls = await json(await roster(`/classes/${classId}`));
    expect(cls.class).toMatchObject({ title: 'Algebra I, period 1', classCode: 'ALG1-01', course: { sourcedId: md5('255901-ALG-1') },
      school: { sourcedId: md5('255901001') }, terms: [{ sourcedId: md5('255901001-2022-2021-2022 Fall Semester') }] });
    const ada = await json(await roster(`/users/${md5('STU-604821')}`));
    expect(ada.user).toMatchObject({ givenName: 'Ada', familyName: 'Lovelace', middleName: 'King', identifier: '604821', grades: ['09'],
      roles: [{ roleType: 'primary', role: 'student', org: { sourcedId: md5('255901001') }, beginDate: '2021-08-23' }],
      userIds: [{ type: 'studentUniqueId', identifier: '604821' }] });
    const demo = await json(await roster(`/demographics/${md5('STU-604821')}`));
    expect(demo.demographics).toMatchObject({ birthDate: '2007-12-10', sex: 'female' });
    const teacher = await json(await roster(`/users/${md5('STA-207219')}`));
    expect(teacher.user).toMatchObject({ username: 'cbabbage', email: 'cbabbage@gbisd.example', roles: [{ role: 'teacher', org: { sourcedId: md5('255901001') } }] });
    const enrollments = await json(await roster(`/classes/${classId}/enrollments`.replace('/enrollments', '/students')));
    expect(enrollments.users.map((u: { sourcedId: string }) => u.sourcedId)).toEqual([md5('STU-604821')]);
    const teachers = await json(await roster(`/classes/${classId}/teachers`));
    expect(teachers.users.map((u: { sourcedId: string }) => u.sourcedId)).toEqual([md5('STA-207219')]);
    const e = await json(await roster(`/enrollments?filter=${encodeURIComponent(`class.sourcedId='${classId}'`)}&sort=role`));
    expect(e.enrollments.map((x: { role: string; primary: string }) => [x.role, x.primary])).toEqual([['student', 'false'], ['teacher', 'true']]);
  });

  test('a student without a school association is an Ed-Fi student but not yet a OneRoster user', async () => {
    expect((await post('students', { studentUniqueId: '700001', firstName: 'No', lastSurname: 'School', birthDate: '2008-01-01' })).status).toBe(201);
    expect((await json(await get('/students?studentUniqueId=700001'))).length).toBe(1);
    expect((await roster(`/users/${md5('STU-700001')}`)).status).toBe(404);
    const all = await json(await roster('/users?limit=100'));
    expect(all.users.map((u: { sourcedId: string }) => u.sourcedId)).not.toContain(md5('STU-700001'));
  });
});
