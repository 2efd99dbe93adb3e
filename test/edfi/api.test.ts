import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { md5 } from '../../standards/edfi/canonical.ts';
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

async function tokenFor(name: string, scopeList: string[], orgs?: string[]) {
  const client = await createClient(db.orm, { name, scopes: scopeList, orgs });
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

const gradingPeriod = { gradingPeriodDescriptor: 'uri://ed-fi.org/GradingPeriodDescriptor#First Nine Weeks', gradingPeriodName: 'Q1',
  schoolReference: { schoolId: 255901001 }, schoolYearTypeReference: { schoolYear: 2022 }, beginDate: '2021-08-23', endDate: '2021-10-22', totalInstructionalDays: 44, periodSequence: 1 };
const contact = { contactUniqueId: 'C-1001', firstName: 'Anne', lastSurname: 'Isabella', electronicMails: [{ electronicMailAddress: 'anne@example.org',
  electronicMailTypeDescriptor: 'uri://ed-fi.org/ElectronicMailTypeDescriptor#Home/Personal' }] };
const studentContact = { contactReference: { contactUniqueId: 'C-1001' }, studentReference: { studentUniqueId: '604821' },
  relationDescriptor: 'uri://ed-fi.org/RelationDescriptor#Mother', primaryContactStatus: true, livesWith: true };
const seoa = { educationOrganizationReference: { educationOrganizationId: 255901 }, studentReference: { studentUniqueId: '604821' },
  sexDescriptor: 'uri://ed-fi.org/SexDescriptor#Female', hispanicLatinoEthnicity: false,
  races: [{ raceDescriptor: 'uri://ed-fi.org/RaceDescriptor#White' }, { raceDescriptor: 'uri://ed-fi.org/RaceDescriptor#Asian' }] };
const seoaa = { beginDate: '2021-08-01', educationOrganizationReference: { educationOrganizationId: 255901001 }, staffReference: { staffUniqueId: '207219' },
  staffClassificationDescriptor: 'uri://ed-fi.org/StaffClassificationDescriptor#School Administrator', positionTitle: 'Assistant Principal' };

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
    ['gradingPeriods', 'edFi_gradingPeriod', gradingPeriod],
    ['sessions', 'edFi_session', session],
    ['courses', 'edFi_course', course],
    ['courseOfferings', 'edFi_courseOffering', offering],
    ['sections', 'edFi_section', section],
    ['students', 'edFi_student', student],
    ['staffs', 'edFi_staff', staff],
    ['contacts', 'edFi_contact', contact],
    ['studentSchoolAssociations', 'edFi_studentSchoolAssociation', ssa],
    ['staffSectionAssociations', 'edFi_staffSectionAssociation', staffSection],
    ['studentSectionAssociations', 'edFi_studentSectionAssociation', studentSection],
    ['studentContactAssociations', 'edFi_studentContactAssociation', studentContact],
    ['studentEducationOrganizationAssociations', 'edFi_studentEducationOrganizationAssociation', seoa],
    ['staffEducationOrganizationAssignmentAssociations', 'edFi_staffEducationOrganizationAssignmentAssociation', seoaa],
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

  test('re-POSTing the same body changes nothing: 200, same ETag, not even a change version spent', async () => {
    const versions = async () => (await json(await get(`${ORIGIN}/changeQueries/v1/availableChangeVersions`))) as { newestChangeVersion: number };
    const newest = await versions();
    for (const [resource, , body] of chain) {
      const before = await get(locations[resource]!);
      const res = await post(resource, body);
      expect(res.status, resource).toBe(200);
      expect(res.headers.get('etag'), resource).toBe(before.headers.get('etag'));
      expect(res.headers.get('location')).toBe(locations[resource]);
    }
    // Confirmed by reading, not by an upsert that matches nothing (which would take a version and lock the row).
    expect(await versions()).toEqual(newest);
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
    expect(teacher.user).toMatchObject({ username: 'cbabbage', email: 'cbabbage@gbisd.example' });
    expect(teacher.user.roles).toContainEqual(expect.objectContaining({ role: 'teacher', org: expect.objectContaining({ sourcedId: md5('255901001') }) }));
    const enrollments = await json(await roster(`/classes/${classId}/enrollments`.replace('/enrollments', '/students')));
    expect(enrollments.users.map((u: { sourcedId: string }) => u.sourcedId)).toEqual([md5('STU-604821')]);
    const teachers = await json(await roster(`/classes/${classId}/teachers`));
    expect(teachers.users.map((u: { sourcedId: string }) => u.sourcedId)).toEqual([md5('STA-207219')]);
    const e = await json(await roster(`/enrollments?filter=${encodeURIComponent(`class.sourcedId='${classId}'`)}&sort=role`));
    expect(e.enrollments.map((x: { role: string; primary: string }) => [x.role, x.primary])).toEqual([['student', 'false'], ['teacher', 'true']]);
  });

  test('contacts, demographics and staff assignments land on the OneRoster users', async () => {
    const ada = (await json(await roster(`/users/${md5('STU-604821')}`))).user;
    expect(ada.agents).toEqual([expect.objectContaining({ sourcedId: md5('PAR-C-1001') })]);
    const anne = (await json(await roster(`/users/${md5('PAR-C-1001')}`))).user;
    expect(anne).toMatchObject({ email: 'anne@example.org', roles: [{ role: 'parent', org: { sourcedId: md5('255901001') } }] });
    const demo = (await json(await roster(`/demographics/${md5('STU-604821')}`))).demographics;
    expect(demo).toMatchObject({ sex: 'female', white: 'true', asian: 'true', demographicRaceTwoOrMoreRaces: 'true', hispanicOrLatinoEthnicity: 'false', birthDate: '2007-12-10' });
    const teacher = (await json(await roster(`/users/${md5('STA-207219')}`))).user;
    expect(teacher.roles.map((r: { role: string }) => r.role).sort()).toEqual(['siteAdministrator', 'teacher']);
    const gp = (await json(await roster(`/gradingPeriods/${md5('255901001-2022-First Nine Weeks-Q1')}`))).academicSession;
    expect(gp).toMatchObject({ title: 'Q1', type: 'gradingPeriod', startDate: '2021-08-23' });
  });

  test('deleting an association removes what it projected (a school association with a date, a contact link, a staff assignment)', async () => {
    const extraSsa = { ...ssa, entryDate: '2022-01-10' };
    const created = await post('studentSchoolAssociations', extraSsa);
    expect(created.status).toBe(201);
    expect((await json(await roster(`/users/${md5('STU-604821')}`))).user.roles).toHaveLength(2);
    expect((await send('DELETE', created.headers.get('location')!, '')).status).toBe(204);
    expect((await json(await roster(`/users/${md5('STU-604821')}`))).user.roles).toHaveLength(1);
    // It was a role, not a row: /deletes still reports it, with its natural key.
    expect(await json(await get('/studentSchoolAssociations/deletes'))).toContainEqual(expect.objectContaining({
      id: created.headers.get('location')!.split('/').at(-1), keyValues: { entryDate: '2022-01-10', schoolId: 255901001, studentUniqueId: '604821' },
    }));
    const assignment = await post('staffEducationOrganizationAssignmentAssociations', { ...seoaa, beginDate: '2022-02-01' });
    expect(assignment.status).toBe(201);
    expect((await send('DELETE', assignment.headers.get('location')!, '')).status).toBe(204);
    expect((await json(await roster(`/users/${md5('STA-207219')}`))).user.roles).toHaveLength(2);
  });

  test('a student without a school association is an Ed-Fi student but not yet a OneRoster user', async () => {
    expect((await post('students', { studentUniqueId: '700001', firstName: 'No', lastSurname: 'School', birthDate: '2008-01-01' })).status).toBe(201);
    expect((await json(await get('/students?studentUniqueId=700001'))).length).toBe(1);
    expect((await roster(`/users/${md5('STU-700001')}`)).status).toBe(404);
    const all = await json(await roster('/users?limit=100'));
    expect(all.users.map((u: { sourcedId: string }) => u.sourcedId)).not.toContain(md5('STU-700001'));
  });
});

describe('Ed-Fi conventions on bad input (every problem of a request at once, nothing written)', () => {
  const problem = async (res: Response, status: number, type: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = await json(res);
    expect(body).toMatchObject({ status, type });
    expect(body.correlationId).toBeTruthy();
    return body;
  };

  test('an id in a POST body is refused', async () => {
    const body = await problem(await post('students', { ...student, id: 'abc' }), 400, 'urn:ed-fi:api:bad-request:data-validation-failed');
    expect(Object.keys(body.validationErrors)).toEqual(['$.id']);
  });

  test('missing, too long and wrongly typed fields come back together, keyed by JSON path', async () => {
    const body = await problem(await post('students', { studentUniqueId: 'x'.repeat(33), firstName: 'A', birthDate: '2007-12-10T00:00:00Z' }), 400,
      'urn:ed-fi:api:bad-request:data-validation-failed');
    expect(Object.keys(body.validationErrors).sort()).toEqual(['$.birthDate', '$.lastSurname', '$.studentUniqueId']);
    expect(body.validationErrors['$.lastSurname']).toEqual(['LastSurname is required.']);
    expect((await json(await get('/students?firstName=A'))).length).toBe(0);
  });

  test('an unknown descriptor is a 400 naming its path; unknown properties are dropped, strings coerced', async () => {
    const body = await problem(await post('studentSchoolAssociations', { ...ssa, entryGradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Grade 99' }), 400,
      'urn:ed-fi:api:bad-request:data-validation-failed');
    expect(body.validationErrors).toEqual({ '$.entryGradeLevelDescriptor': ["GradeLevelDescriptor value 'uri://ed-fi.org/GradeLevelDescriptor#Grade 99' does not exist."] });
    const res = await post('schools', { ...school, schoolId: '255901002', nameOfInstitution: 'Grand Bend Middle', favouriteColour: 'blue' });
    expect(res.status).toBe(201);
    const item = await json(await get(res.headers.get('location')!));
    expect(item.schoolId).toBe(255901002);
    expect(item).not.toHaveProperty('favouriteColour');
  });

  test('descriptor URIs match whatever their case', async () => {
    const res = await post('studentSchoolAssociations', { ...ssa, schoolReference: { schoolId: 255901002 }, entryGradeLevelDescriptor: 'URI://ED-FI.ORG/GradeLevelDescriptor#ninth GRADE' });
    expect(res.status).toBe(201);
  });

  test('a reference to a missing item is a 409 unresolved-reference naming it', async () => {
    const body = await problem(await post('studentSchoolAssociations', { ...ssa, studentReference: { studentUniqueId: 'nobody' }, schoolReference: { schoolId: 1 } }), 409,
      'urn:ed-fi:api:data-conflict:unresolved-reference');
    expect(body.detail).toContain("The referenced 'Student' item does not exist.");
    expect(body.detail).toContain("The referenced 'School' item does not exist.");
    // In the order the body's references are looked up, though the lookups run at once.
    expect(body.detail.indexOf("'Student'")).toBeLessThan(body.detail.indexOf("'School'"));
    expect(Object.keys(body.validationErrors).sort()).toEqual(['$.schoolReference', '$.studentReference']);
  });

  test('malformed, empty and non-JSON bodies, and wrong methods', async () => {
    await problem(await send('POST', '/students', '{"studentUniqueId":'), 400, 'urn:ed-fi:api:bad-request');
    await problem(await send('POST', '/students', ''), 400, 'urn:ed-fi:api:bad-request');
    await problem(await send('POST', '/students', 'a,b', { 'content-type': 'text/csv' }), 415, 'urn:ed-fi:api:unsupported-media-type');
    await problem(await send('POST', `/students/${locations.students!.split('/').at(-1)}`, student), 405, 'urn:ed-fi:api:method-not-allowed');
    await problem(await send('PUT', '/students', student), 405, 'urn:ed-fi:api:method-not-allowed');
    await problem(await send('DELETE', '/students', ''), 405, 'urn:ed-fi:api:method-not-allowed');
    await problem(await get('/unicorns'), 404, 'urn:ed-fi:api:not-found');
    await problem(await send('POST', '/students', JSON.stringify({ ...student, firstName: 'x'.repeat(2_000_000) })), 413, 'urn:ed-fi:api:bad-request');
  });

  test('query parameters are typed, case-insensitive and bounded', async () => {
    expect((await json(await get('/students?STUDENTUNIQUEID=604821'))).length).toBe(1);
    const limit = await problem(await get('/students?limit=501'), 400, 'urn:ed-fi:api:bad-request:parameter-validation-failed');
    expect(limit.errors).toEqual(['Limit must be a value between 0 and 500.']);
    await problem(await get('/students?limit=-1'), 400, 'urn:ed-fi:api:bad-request:parameter-validation-failed');
    const typed = await problem(await get('/schools?schoolId=abc'), 400, 'urn:ed-fi:api:bad-request:parameter-validation-failed');
    expect(typed.validationErrors).toEqual({ '$.schoolId': ["The value 'abc' is not valid for SchoolId."] });
    await problem(await get('/students?shoeSize=9'), 400, 'urn:ed-fi:api:bad-request:parameter-validation-failed');
    await problem(await get('/students?id=invalid'), 400, 'urn:ed-fi:api:bad-request:parameter-validation-failed');
    expect(await json(await get('/students?limit=0'))).toEqual([]);
  });

  test('every query parameter the official GET lists works, columns or not', async () => {
    const byCity = await json(await get('/students?birthCity=London'));
    expect(byCity.map((s: { studentUniqueId: string }) => s.studentUniqueId)).toEqual(['604821']);
    const grade = encodeURIComponent('uri://ed-fi.org/GradeLevelDescriptor#Ninth grade');
    expect((await json(await get(`/studentSchoolAssociations?entryGradeLevelDescriptor=${grade}&schoolId=255901001`))).length).toBe(1);
    expect((await json(await get('/studentSectionAssociations?homeroomIndicator=false'))).length).toBe(1);
    expect((await json(await get('/studentSectionAssociations?homeroomIndicator=true'))).length).toBe(0);
    expect((await json(await get('/gradingPeriods?periodSequence=1'))).length).toBe(1);
    expect((await get('/gradingPeriods?periodSequence=first')).status).toBe(400);
  });

  test('PUT replaces by id, never creates, and refuses key changes Ed-Fi does not allow', async () => {
    const id = locations.students!.split('/').at(-1)!;
    await problem(await send('PUT', `/students/${'0'.repeat(32)}`, student), 404, 'urn:ed-fi:api:not-found');
    await problem(await send('PUT', `/students/${id}`, { ...student, studentUniqueId: '999' }), 400, 'urn:ed-fi:api:bad-request:data-validation-failed:key-change-not-supported');
    const res = await send('PUT', `/students/${id.replace(/-/g, '')}`, { ...student, firstName: 'Augusta Ada' });
    expect(res.status).toBe(204);
    expect(res.headers.get('etag')).toMatch(/^"\d+-/);
    expect((await json(await get(`/students/${id}`))).firstName).toBe('Augusta Ada');
    expect((await json(await roster(`/users/${md5('STU-604821')}`))).user.givenName).toBe('Augusta Ada');
  });

  test('If-Match guards PUT and DELETE (quoted or not); If-None-Match gives 304', async () => {
    const location = locations.staffs!;
    const etag = (await get(location)).headers.get('etag')!;
    await problem(await send('PUT', location, staff, { 'if-match': '"1-stale"' }), 412, 'urn:ed-fi:api:optimistic-lock-failed');
    expect((await send('PUT', location, staff, { 'if-match': etag.replace(/"/g, '') })).status).toBe(204);
    expect((await get(location, tokens.writer!, { 'if-none-match': etag })).status).toBe(304);
    expect((await get(location, tokens.writer!, { 'if-none-match': etag.replace(/"/g, '') })).status).toBe(304);
    expect((await get(location, tokens.writer!, { 'if-none-match': '"other"' })).status).toBe(200);
    await problem(await send('DELETE', location, '', { 'if-match': '"nope"' }), 412, 'urn:ed-fi:api:optimistic-lock-failed');
    await problem(await post('staffs', staff, { 'if-none-match': '*' }), 412, 'urn:ed-fi:api:optimistic-lock-failed');
  });

  test('DELETE of a referenced item is a 409 naming the dependent; an unreferenced one is a tombstone', async () => {
    const body = await problem(await send('DELETE', locations.schools!, ''), 409, 'urn:ed-fi:api:data-conflict:dependent-item-exists');
    expect(body.detail).toMatch(/referenced by an existing '\w+' item/);
    const extra = await post('students', { studentUniqueId: '700002', firstName: 'Gone', lastSurname: 'Soon', birthDate: '2008-01-01' });
    const location = extra.headers.get('location')!;
    expect((await send('DELETE', location, '')).status).toBe(204);
    expect((await get(location)).status).toBe(404);
    await problem(await send('DELETE', location, ''), 404, 'urn:ed-fi:api:not-found');
    const deletes = await json(await get('/students/deletes'));
    expect(deletes).toContainEqual(expect.objectContaining({ id: location.split('/').at(-1), keyValues: { studentUniqueId: '700002' } }));
  });
});

describe('security', () => {
  test('every Ed-Fi data and change-query route refuses a missing token with 401, and a token without Ed-Fi claims with 403', async () => {
    const routes = app.routes.filter((r) => /^\/(data|changeQueries)\//.test(r.path) && r.method !== 'ALL')
      .map((r) => ({ method: r.method, path: r.path.replace(':resource', 'students').replace(':id', '00000000-0000-0000-0000-000000000000') }));
    expect(routes.length).toBeGreaterThanOrEqual(16);
    for (const { method, path } of routes) {
      const body = method === 'GET' || method === 'HEAD' ? undefined : '{}';
      const res = await app.request(`${ORIGIN}${path}`, { method, headers: { 'content-type': 'application/json' }, body });
      expect(res.status, `${method} ${path}`).toBe(401);
      if (method !== 'HEAD') expect((await json(res)).type).toBe('urn:ed-fi:api:security:authentication');
      if (!path.startsWith('/data/')) continue;
      const denied = await app.request(`${ORIGIN}${path}`, { method, headers: { 'content-type': 'application/json', ...auth(tokens.roster!) }, body });
      expect([403, 405], `${method} ${path}`).toContain(denied.status);
    }
  });

  test('a client limited to a school sees and writes only within it', async () => {
    await tokenFor('grandBendHigh', [scopes.edfiWrite], [md5('255901001')]);
    const token = tokens.grandBendHigh!;
    const schools = await json(await get('/schools', token));
    expect(schools.map((s: { schoolId: number }) => s.schoolId)).toEqual([255901001]);
    const middle = (await json(await get('/schools?schoolId=255901002'))).at(0);
    expect((await get(`/schools/${middle.id}`, token)).status).toBe(403);
    const students = await json(await get('/students?limit=500', token));
    expect(students.map((s: { studentUniqueId: string }) => s.studentUniqueId)).toContain('604821');
    expect(students.map((s: { studentUniqueId: string }) => s.studentUniqueId)).not.toContain('700001');
    expect((await send('POST', '/sessions', { ...session, schoolReference: { schoolId: 255901002 }, sessionName: 'Elsewhere' }, {}, token)).status).toBe(403);
    expect((await send('POST', '/sessions', session, {}, token)).status).toBe(200);
    expect(await json(await get('/localEducationAgencies', token))).toEqual([]);
  });

  test('the token endpoint also takes a JSON body, as the Ed-Fi ODS/API does', async () => {
    const client = await createClient(db.orm, { name: 'json-client', scopes: [scopes.edfiRead] });
    const res = await app.request(`${ORIGIN}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret }) });
    expect(res.status).toBe(200);
    const token = ((await res.json()) as { access_token: string }).access_token;
    expect((await get('/students', token)).status).toBe(200);
    const bad = await app.request(`${ORIGIN}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type": 1}' });
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('claims are per resource and per action', async () => {
    expect((await get('/students', tokens.reader!)).status).toBe(200);
    expect((await send('POST', '/students', student, {}, tokens.reader!)).status).toBe(403);
    expect((await send('POST', '/students', student, {}, tokens.studentsOnly!)).status).toBe(200);
    expect((await send('POST', '/schools', school, {}, tokens.studentsOnly!)).status).toBe(403);
    expect((await get('/schools', tokens.studentsOnly!)).status).toBe(403);
  });
});

describe('paging and change queries', () => {
  test('offset/limit pages are stable and totalCount counts the filtered set', async () => {
    for (let i = 0; i < 7; i++) await post('students', { studentUniqueId: `P${i}`, firstName: 'Page', lastSurname: `Student ${i}`, birthDate: '2009-01-01' });
    const first = await get('/students?firstName=Page&limit=3&totalCount=true');
    expect(first.headers.get('total-count')).toBe('7');
    const ids = [];
    for (let offset = 0; offset < 9; offset += 3) ids.push(...(await json(await get(`/students?firstName=Page&limit=3&offset=${offset}`))).map((s: { id: string }) => s.id));
    expect(ids.length).toBe(7);
    expect(new Set(ids).size).toBe(7);
    expect((await get('/students?firstName=Page')).headers.get('total-count')).toBeNull();
  });

  test('offset pages asked again start where they were seen to, until a write moves them', async () => {
    for (let i = 0; i < 7; i++) await post('students', { studentUniqueId: `W${i}`, firstName: 'Walk', lastSurname: `Student ${i}`, birthDate: '2009-01-01' });
    const walk = async () => {
      const ids: string[] = [];
      for (let offset = 0; offset < 9; offset += 3) ids.push(...(await json(await get(`/students?firstName=Walk&limit=3&offset=${offset}`))).map((s: { id: string }) => s.id));
      return ids;
    };
    const all = await walk();
    expect(new Set(all).size).toBe(7);
    expect(await walk()).toEqual(all);
    expect((await json(await get('/students?firstName=Walk&limit=3&offset=3'))).map((s: { id: string }) => s.id)).toEqual(all.slice(3, 6));
    // Removing the first shifts every page: starts remembered before the delete must not be used.
    expect((await send('DELETE', `/students/${all[0]}`, '')).status).toBe(204);
    expect((await json(await get('/students?firstName=Walk&limit=3&offset=3'))).map((s: { id: string }) => s.id)).toEqual(all.slice(4, 7));
    expect(await walk()).toEqual(all.slice(1));
  });

  test('availableChangeVersions grows with writes; min/maxChangeVersion window collections', async () => {
    const before = await json(await get(`${ORIGIN}/changeQueries/v1/availableChangeVersions`));
    expect(before).toMatchObject({ oldestChangeVersion: 0 });
    await post('students', { studentUniqueId: 'CV1', firstName: 'Change', lastSurname: 'Version', birthDate: '2009-01-01' });
    const after = await json(await get(`${ORIGIN}/changeQueries/v1/availableChangeVersions`));
    expect(after.newestChangeVersion).toBeGreaterThan(before.newestChangeVersion);
    const changed = await json(await get(`/students?minChangeVersion=${before.newestChangeVersion + 1}`));
    expect(changed.map((s: { studentUniqueId: string }) => s.studentUniqueId)).toEqual(['CV1']);
    expect(await json(await get(`/students?minChangeVersion=${before.newestChangeVersion + 1}&maxChangeVersion=${before.newestChangeVersion}`))).toEqual([]);
  });

  test('a school association whose entry date is corrected by PUT keeps its id', async () => {
    const created = await post('studentSchoolAssociations', { ...ssa, schoolReference: { schoolId: 255901002 }, entryDate: '2022-03-01' });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    const res = await send('PUT', location, { ...ssa, schoolReference: { schoolId: 255901002 }, entryDate: '2022-03-02' });
    expect(res.status).toBe(204);
    const item = await json(await get(location));
    expect(item).toMatchObject({ id: location.split('/').at(-1), entryDate: '2022-03-02' });
    expect(await json(await get('/studentSchoolAssociations/keyChanges'))).toEqual([expect.objectContaining({
      id: item.id, oldKeyValues: expect.objectContaining({ entryDate: '2022-03-01' }), newKeyValues: expect.objectContaining({ entryDate: '2022-03-02' }),
    })]);
    expect((await send('PUT', location, { ...ssa, studentReference: { studentUniqueId: '700001' }, schoolReference: { schoolId: 255901002 } })).status).toBe(400);
    expect((await send('DELETE', location, '')).status).toBe(204);
    expect((await get(location)).status).toBe(404);
  });

  test('a section renamed by PUT keeps its id and shows in /keyChanges', async () => {
    const location = locations.sections!;
    const res = await send('PUT', location, { ...section, sectionIdentifier: 'ALG1-01B' });
    expect(res.status).toBe(204);
    expect((await json(await get(location))).sectionIdentifier).toBe('ALG1-01B');
    const changes = await json(await get('/sections/keyChanges'));
    expect(changes).toEqual([expect.objectContaining({
      id: location.split('/').at(-1), oldKeyValues: expect.objectContaining({ sectionIdentifier: 'ALG1-01' }), newKeyValues: expect.objectContaining({ sectionIdentifier: 'ALG1-01B' }),
    })]);
    expect(await json(await get('/students/keyChanges'))).toEqual([]);
    expect((await send('PUT', location, section)).status).toBe(204);
  });

  test('descriptors and school years are resources: seeded, valid, extensible by POST', async () => {
    const [ninth] = await json(await get(`/gradeLevelDescriptors?codeValue=${encodeURIComponent('Ninth grade')}`));
    expect(ninth).toMatchObject({ namespace: 'uri://ed-fi.org/GradeLevelDescriptor', codeValue: 'Ninth grade' });
    expect(oas.validate('edFi_gradeLevelDescriptor', ninth)).toEqual([]);
    const [year] = await json(await get('/schoolYearTypes?schoolYear=2022'));
    expect(oas.validate('edFi_schoolYearType', year)).toEqual([]);
    const site = { namespace: 'uri://gbisd.example/TermDescriptor', codeValue: 'Block 1', shortDescription: 'Block 1 ' };
    const created = await post('termDescriptors', site);
    expect(created.status).toBe(201);
    expect((await json(await get(created.headers.get('location')!))).shortDescription).toBe('Block 1');
    const res = await post('sessions', { ...session, sessionName: 'Block 1', termDescriptor: 'uri://gbisd.example/TermDescriptor#Block 1' });
    expect(res.status).toBe(201);
    expect((await json(await roster(`/academicSessions/${md5('255901001-2022-Block 1')}`))).academicSession.type).toBe('term');
    // In use: a delete is refused; once nothing uses it, it goes.
    const inUse = await send('DELETE', created.headers.get('location')!, '');
    expect(inUse.status).toBe(409);
    expect((await json(inUse)).detail).toContain("'Session'");
    const unused = await post('termDescriptors', { ...site, codeValue: 'Block 2', shortDescription: 'Block 2' });
    expect((await send('DELETE', unused.headers.get('location')!, '')).status).toBe(204);
  });

  test('discovery, dependencies and the served OpenAPI', async () => {
    const root = await json(await app.request(`${ORIGIN}/`));
    expect(root).toMatchObject({ dataModels: [{ name: 'Ed-Fi', version: '5.0.0' }], urls: { oauth: `${ORIGIN}/oauth/token`, dataManagementApi: `${ORIGIN}/data/v3/` } });
    const deps = await json(await app.request(`${ORIGIN}/metadata/data/v3/dependencies`));
    const order = (r: string) => deps.find((d: { resource: string }) => d.resource === `/ed-fi/${r}`).order;
    expect(order('gradeLevelDescriptors')).toBeLessThan(order('schools'));
    expect(order('schools')).toBeLessThan(order('sections'));
    expect(order('sections')).toBeLessThan(order('studentSectionAssociations'));
    const spec = await json(await app.request(`${ORIGIN}/openapi/edfi.json`));
    expect(Object.keys(spec.paths)).toContain('/ed-fi/studentSchoolAssociations/{id}');
  });
});

describe('cursor paging', () => {
  test('Next-Page-Token walks a collection in stable order, without offsets', async () => {
    const seen: string[] = [];
    let res = await get('/students?pageSize=4');
    for (;;) {
      expect(res.status).toBe(200);
      seen.push(...(await json(res)).map((s: { id: string }) => s.id));
      const token = res.headers.get('next-page-token');
      if (!token) break;
      res = await get(`/students?pageSize=4&pageToken=${token}`);
    }
    const all = (await json(await get('/students?limit=500'))).map((s: { id: string }) => s.id);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(seen.length);
  });

  test('a bad token, or a token with offset or totalCount, is a 400', async () => {
    expect((await get('/students?pageToken=garbage')).status).toBe(400);
    const token = (await get('/students?pageSize=2')).headers.get('next-page-token')!;
    expect((await get(`/students?pageToken=${token}&offset=2`)).status).toBe(400);
    expect((await get(`/students?pageToken=${token}&totalCount=true`)).status).toBe(400);
    expect((await get('/students/deletes?pageSize=2')).status).toBe(400);
  });
});
