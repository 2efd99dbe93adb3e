import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { credentialFromToken } from '../../src/auth/admin-token.ts';
import { createClient } from '../../src/auth/clients.ts';
import { scopes } from '../../src/auth/scopes.ts';
import { TokenIssuer } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import { importPackage } from '../../standards/oneroster/csv/import.ts';
import { BASE_PATH } from '../../standards/oneroster/rest/operations.ts';
import { fixture } from '../support/csv.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { edfiSchemas } from '../support/edfi-oas.ts';
import { defaults } from '../support/roster.ts';

/** A OneRoster CSV import read through Ed-Fi, and changes through either door seen through the other. */

const ORIGIN = 'https://gw.example';
const ED = `${ORIGIN}/data/ed-fi`;
const oas = edfiSchemas();
const limits = { maxEntries: 64, maxFileBytes: 10_000_000, maxTotalBytes: 50_000_000 };
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
const tokens: Record<string, string> = {};

const auth = (name: string) => ({ authorization: `Bearer ${tokens[name]}` });
const edfi = async (path: string) => {
  const res = await app.request(`${ED}${path}`, { headers: auth('edfi') });
  expect(res.status, path).toBe(200);
  return (await res.json()) as any;
};
const oneRoster = async (path: string) => (await (await app.request(`${ORIGIN}${BASE_PATH}${path}`, { headers: auth('roster') })).json()) as any;
const change = (name: string, body: unknown, method = 'PUT', path = '') =>
  app.request(`${ED}${path}`, { method, headers: { ...auth('edfi'), 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    orm: db.orm, config: loadConfig({ DATA_DIR: './data/test-edfi-interop' }), tokens: new TokenIssuer('s'.repeat(40), 600),
    credential: credentialFromToken('a'.repeat(40)), logger: createLogger('silent'),
  });
  for (const [name, granted] of [['edfi', [scopes.edfiWrite]], ['roster', [scopes.roster, scopes.rosterDemographics]]] as const) {
    const client = await createClient(db.orm, { name, scopes: [...granted] });
    const res = await app.request(`${ORIGIN}/oauth/token`, {
      method: 'POST', body: 'grant_type=client_credentials',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
    });
    tokens[name] = ((await res.json()) as { access_token: string }).access_token;
  }
  const run = await importPackage(db.orm, fixture('bulk'), { source: 'sis', holdShare: 0.3, batchSize: 1000, limits });
  expect(run.status).toBe('succeeded');
});
afterAll(async () => {
  await db?.drop();
});

describe('a OneRoster CSV import, read through Ed-Fi', () => {
  test('schools, with their Ed-Fi ids taken from numeric identifiers', async () => {
    const schools = await edfi('/schools?totalCount=false');
    expect(schools.map((s: { schoolId: number }) => s.schoolId).sort()).toEqual([101, 102]);
    for (const s of schools) expect(oas.validate('edFi_school', s)).toEqual([]);
    const lea = (await edfi('/localEducationAgencies'))[0];
    expect(lea).toMatchObject({ nameOfInstitution: 'Springfield District' });
    // A non-numeric identifier gives a stable number derived from the sourcedId.
    expect(Number.isSafeInteger(lea.localEducationAgencyId)).toBe(true);
    expect(schools[0].localEducationAgencyReference).toEqual({ localEducationAgencyId: lea.localEducationAgencyId });
  });

  test('students, with their demographics and school associations', async () => {
    const [bart] = await edfi('/students?studentUniqueId=1001');
    expect(bart).toMatchObject({ firstName: 'Bart', lastSurname: 'Simpson', middleName: 'Jojo', birthDate: '2010-04-01' });
    expect(oas.validate('edFi_student', bart)).toEqual([]);
    const staff = await edfi('/staffs');
    expect(staff.map((s: { firstName: string }) => s.firstName)).toEqual(['Edna']);
    const [ssa] = await edfi('/studentSchoolAssociations?studentUniqueId=1001');
    expect(ssa).toMatchObject({ entryDate: '2024-08-15', schoolReference: { schoolId: 101 }, entryGradeLevelDescriptor: 'uri://ed-fi.org/GradeLevelDescriptor#Ninth grade' });
    expect(oas.validate('edFi_studentSchoolAssociation', ssa)).toEqual([]);
    expect((await edfi(`/studentSchoolAssociations/${ssa.id}`)).id).toBe(ssa.id);
  });

  test('sections and sessions, keyed from the class, its course, school and term', async () => {
    const sections = await edfi('/sections?schoolId=101');
    expect(sections).toEqual([expect.objectContaining({
      sectionIdentifier: 'ALG-1', sectionName: 'Algebra I - P1',
      courseOfferingReference: { localCourseCode: 'MATH1', schoolId: 101, schoolYear: 2025, sessionName: 'Fall' },
    })]);
    expect(oas.validate('edFi_section', sections[0])).toEqual([]);
    const [fall] = await edfi('/sessions?sessionName=Fall');
    expect(fall).toMatchObject({ schoolReference: { schoolId: 101 }, schoolYearTypeReference: { schoolYear: 2025 }, beginDate: '2024-08-15',
      termDescriptor: 'uri://ed-fi.org/TermDescriptor#Other' });
    expect(oas.validate('edFi_session', fall)).toEqual([]);
    // A term classes of two schools use is a session of each school (Ed-Fi sessions belong to one school), so every section's session exists.
    const falls = await edfi('/sessions?sessionName=Fall');
    expect(falls.map((f: { schoolReference: { schoolId: number } }) => f.schoolReference.schoolId).sort()).toEqual([101, 102]);
    expect(new Set(falls.map((f: { id: string }) => f.id)).size).toBe(2);
    for (const f of falls) expect((await edfi(`/sessions/${f.id}`))).toMatchObject({ id: f.id, sessionName: 'Fall' });
    const sessionKeys = new Set((await edfi('/sessions')).map((x: any) => `${x.schoolReference.schoolId}|${x.schoolYearTypeReference.schoolYear}|${x.sessionName}`));
    for (const section of await edfi('/sections')) {
      const o = section.courseOfferingReference;
      expect(sessionKeys.has(`${o.schoolId}|${o.schoolYear}|${o.sessionName}`), JSON.stringify(o)).toBe(true);
    }
    const [enrolled] = await edfi('/studentSectionAssociations?studentUniqueId=1001');
    expect(enrolled).toMatchObject({ beginDate: '2024-08-15', sectionReference: { sectionIdentifier: 'ALG-1', schoolId: 101 } });
    expect(oas.validate('edFi_studentSectionAssociation', enrolled)).toEqual([]);
    // Ed-Fi requires a beginDate; an enrollment without one is served with its class's term start.
    const teaching = await edfi('/staffSectionAssociations');
    expect(teaching.length).toBeGreaterThan(0);
    for (const t of teaching) expect(oas.validate('edFi_staffSectionAssociation', t)).toEqual([]);
    const offerings = await edfi('/courseOfferings?localCourseCode=MATH1');
    expect(offerings.map((o: { schoolReference: { schoolId: number } }) => o.schoolReference.schoolId).sort()).toEqual([101, 102]);
    for (const o of offerings) expect(oas.validate('edFi_courseOffering', o)).toEqual([]);
    expect(offerings[0]).toMatchObject({ localCourseTitle: 'Algebra I', sessionReference: { schoolYear: 2025, sessionName: 'Fall' } });
    // An Ed-Fi client can add a section to an offering that came from the CSV.
    const added = await change('sections', { sectionIdentifier: 'ALG-9', courseOfferingReference: sections[0].courseOfferingReference }, 'POST', '/sections');
    expect(added.status).toBe(201);
    const cls = (await oneRoster('/classes?filter=' + encodeURIComponent("classCode='ALG-9'"))).classes[0];
    expect(cls).toMatchObject({ course: { sourcedId: 'c-math' }, school: { sourcedId: 's1' }, terms: [{ sourcedId: 't1' }] });
    const courses = await edfi('/courses');
    expect(courses[0]).toMatchObject({ courseCode: 'MATH1', courseTitle: 'Algebra I' });
    expect(oas.validate('edFi_course', courses[0])).toEqual([]);
  });
});

describe('contacts and demographics of a OneRoster CSV import, read through Ed-Fi', () => {
  test('a parent with agents is a contact with student contact associations', async () => {
    const [homer] = await edfi('/contacts');
    expect(homer).toMatchObject({ firstName: 'Homer', lastSurname: 'Simpson', electronicMails: [{ electronicMailAddress: 'homer@example.org' }] });
    expect(oas.validate('edFi_contact', homer)).toEqual([]);
    const links = await edfi(`/studentContactAssociations?contactUniqueId=${homer.contactUniqueId}`);
    expect(links.map((l: { studentReference: { studentUniqueId: string } }) => l.studentReference.studentUniqueId).sort()).toEqual(['1001', '1002']);
    for (const l of links) expect(oas.validate('edFi_studentContactAssociation', l)).toEqual([]);
    expect((await edfi(`/studentContactAssociations/${links[0].id}`)).id).toBe(links[0].id);
  });

  test('demographics are a studentEducationOrganizationAssociation at the student\'s school', async () => {
    const [seoa] = await edfi('/studentEducationOrganizationAssociations?studentUniqueId=1001');
    expect(seoa).toMatchObject({ educationOrganizationReference: { educationOrganizationId: 101 }, sexDescriptor: 'uri://ed-fi.org/SexDescriptor#Male',
      races: [{ raceDescriptor: 'uri://ed-fi.org/RaceDescriptor#White' }], hispanicLatinoEthnicity: false });
    expect(oas.validate('edFi_studentEducationOrganizationAssociation', seoa)).toEqual([]);
  });

  test('staff roles are staff assignments', async () => {
    const assignments = await edfi('/staffEducationOrganizationAssignmentAssociations');
    expect(assignments.map((a: { educationOrganizationReference: { educationOrganizationId: number } }) => a.educationOrganizationReference.educationOrganizationId).sort())
      .toEqual([101, 102]);
    expect(assignments[0].staffClassificationDescriptor).toBe('uri://ed-fi.org/StaffClassificationDescriptor#Ungraded Teacher');
  });
});

describe('a change through one door is a change through the other', () => {
  test('a OneRoster delta bumps the Ed-Fi etag and change version; an unchanged re-import bumps nothing', async () => {
    const [before] = await edfi('/students?studentUniqueId=1001');
    const again = await importPackage(db.orm, fixture('bulk'), { source: 'sis', holdShare: 0.3, batchSize: 1000, limits });
    expect(again.counts.user).toMatchObject({ updated: 0 });
    expect((await edfi('/students?studentUniqueId=1001'))[0]._etag).toBe(before._etag);

    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'user', records: [{
      sourcedId: 'u-bart', enabledUser: true, givenName: 'Bartholomew', familyName: 'Simpson', middleName: 'Jojo', identifier: '1001', username: 'bsimpson',
      roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1', beginDate: '2024-08-15' }],
    }] }] });
    const [after] = await edfi('/students?studentUniqueId=1001');
    expect(after.firstName).toBe('Bartholomew');
    expect(after._etag).not.toBe(before._etag);
    expect(after._lastModifiedDate > before._lastModifiedDate).toBe(true);
    const changed = await edfi(`/students?minChangeVersion=${Number(before._etag.split('-')[0]) + 1}`);
    expect(changed.map((s: { studentUniqueId: string }) => s.studentUniqueId)).toContain('1001');
  });

  test('an Ed-Fi PUT changes the OneRoster record (new dateLastModified); the next CSV import of the source wins back', async () => {
    const [bart] = await edfi('/students?studentUniqueId=1001');
    const userBefore = (await oneRoster('/users/u-bart')).user;
    const res = await change('students', { studentUniqueId: '1001', firstName: 'Bart', lastSurname: 'Simpson-Bouvier', birthDate: '2010-04-01' }, 'PUT', `/students/${bart.id}`);
    expect(res.status).toBe(204);
    const userAfter = (await oneRoster('/users/u-bart')).user;
    expect(userAfter).toMatchObject({ familyName: 'Simpson-Bouvier', sourcedId: 'u-bart', username: 'bsimpson' });
    expect(userAfter.dateLastModified > userBefore.dateLastModified).toBe(true);
    expect(userAfter.roles).toEqual(userBefore.roles);
    const demographics = (await oneRoster('/demographics/u-bart')).demographics;
    expect(demographics).toMatchObject({ birthDate: '2010-04-01', sex: 'male' });

    // A POST with the natural key of a row from another door updates that row (no second user).
    const posted = await change('students', { studentUniqueId: '1001', firstName: 'Bart', lastSurname: 'Simpson-Bouvier', middleName: 'J', birthDate: '2010-04-01' }, 'POST', '/students');
    expect(posted.status).toBe(200);
    expect(posted.headers.get('location')).toBe(`${ED}/students/${bart.id}`);
    expect((await oneRoster('/users/u-bart')).user.middleName).toBe('J');
    expect((await edfi('/students?studentUniqueId=1001')).length).toBe(1);

    const reimport = await importPackage(db.orm, fixture('bulk'), { source: 'sis', holdShare: 0.3, batchSize: 1000, limits });
    expect(reimport.counts.user).toMatchObject({ updated: 1 });
    expect((await oneRoster('/users/u-bart')).user.familyName).toBe('Simpson');
  });

  test('a OneRoster tombstone is an Ed-Fi delete, and an Ed-Fi DELETE is a OneRoster tombstone', async () => {
    const [e2] = await edfi('/studentSectionAssociations?studentUniqueId=1001');
    await reconcile(db.orm, { ...defaults, source: 'sis', mode: 'delta', batches: [{ entity: 'enrollment', records: [{ sourcedId: 'e2', status: 'tobedeleted' }] }] });
    expect(await edfi('/studentSectionAssociations?studentUniqueId=1001')).toEqual([]);
    const deletes = await edfi('/studentSectionAssociations/deletes');
    expect(deletes).toEqual([expect.objectContaining({ id: e2.id, keyValues: expect.objectContaining({ studentUniqueId: '1001', beginDate: '2024-08-15', sectionIdentifier: 'ALG-1' }) })]);

    const [lisa] = await edfi('/students?studentUniqueId=1002');
    const gone = await app.request(`${ED}/studentSchoolAssociations/${(await edfi('/studentSchoolAssociations?studentUniqueId=1002'))[0].id}`, { method: 'DELETE', headers: auth('edfi') });
    expect(gone.status).toBe(204);
    const lisaUser = (await oneRoster('/users/u-lisa'));
    expect(lisaUser.user).toBeUndefined();
    expect((await edfi('/students?studentUniqueId=1002'))[0].id).toBe(lisa.id);

    const teach = await edfi('/staffs');
    const deleted = await app.request(`${ED}/staffs/${teach[0].id}`, { method: 'DELETE', headers: auth('edfi') });
    expect(deleted.status).toBe(409);
    const e1 = (await edfi('/staffSectionAssociations'))[0];
    expect((await app.request(`${ED}/staffSectionAssociations/${e1.id}`, { method: 'DELETE', headers: auth('edfi') })).status).toBe(204);
    expect((await oneRoster('/enrollments/e1')).enrollment).toMatchObject({ status: 'tobedeleted' });
  });
});
