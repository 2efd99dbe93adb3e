import { sql, type RawBuilder } from 'kysely';
import type { ResourceName } from './resources.ts';

/**
 * The 41 GET operations of the OneRoster 1.2 Rostering service (reference §1.2), as data: path,
 * operationId, envelope key, resource, who may call it and the predicates that make a subset or a
 * nested route out of a base collection (Ed-Fi's view mappings: schools are orgs of type school,
 * students are users with a student role, …).
 */

export type Access =
  | 'core' | 'roster' | 'demographics'
  | 'gradebookCore' | 'gradebook' | 'gradebookPut' | 'gradebookPost' | 'gradebookDelete';

export interface Operation {
  operationId: string;
  /** Relative to the base path, OpenAPI style (`/classes/{classSourcedId}/students`). */
  path: string;
  kind: 'collection' | 'object';
  key: string;
  resource: ResourceName;
  /** core: roster or roster-core scope; roster: roster scope; demographics: the demographics scope. */
  access: Access;
  where: (params: Record<string, string>) => RawBuilder<unknown>[];
  /**
   * For a subset much smaller than its table: a query of the subset's ids (`id`). Pages walk these
   * in order instead of testing every row of the table until a page is full.
   */
  within?: (params: Record<string, string>) => RawBuilder<unknown>;
  /** Path parameters naming parents that must exist (else 404 unknownobject). */
  parents?: { param: string; table: string; what: string }[];
}

const enrolled = (classId: RawBuilder<unknown>, role: string) =>
  sql`exists (select 1 from enrollment e where e.user_sourced_id = t.sourced_id and e.class_sourced_id = ${classId} and e.role = ${role} and e.status = 'active')`;
const hasRole = (role: string, org?: string) =>
  org === undefined
    ? sql`exists (select 1 from user_role r where r.user_sourced_id = t.sourced_id and r.role = ${role})`
    : sql`exists (select 1 from user_role r where r.user_sourced_id = t.sourced_id and r.role = ${role} and r.org_sourced_id = ${org})`;
const classesOf = (userId: string, role?: string) =>
  sql`t.sourced_id in (select e.class_sourced_id from enrollment e where e.user_sourced_id = ${userId} and e.status = 'active' ${role ? sql`and e.role = ${role}` : sql``})`;
const type = (value: string) => sql`t.type = ${value}`;

const ops: Omit<Operation, 'kind'>[] = [];
function op(operationId: string, path: string, key: string, resource: ResourceName, access: Access, where: Operation['where'] = () => [], within?: Operation['within']) {
  ops.push({ operationId, path, key, resource, access, where, ...(within ? { within } : {}) });
}

op('getAllAcademicSessions', '/academicSessions', 'academicSessions', 'academicSession', 'core');
op('getAcademicSession', '/academicSessions/{sourcedId}', 'academicSession', 'academicSession', 'core');
op('getAllClasses', '/classes', 'classes', 'class', 'core');
op('getClass', '/classes/{sourcedId}', 'class', 'class', 'core');
op('getStudentsForClass', '/classes/{classSourcedId}/students', 'users', 'user', 'roster', (p) => [enrolled(sql`${p.classSourcedId}`, 'student')]);
op('getTeachersForClass', '/classes/{classSourcedId}/teachers', 'users', 'user', 'roster', (p) => [enrolled(sql`${p.classSourcedId}`, 'teacher')]);
op('getAllCourses', '/courses', 'courses', 'course', 'core');
op('getCourse', '/courses/{sourcedId}', 'course', 'course', 'core');
op('getClassesForCourse', '/courses/{courseSourcedId}/classes', 'classes', 'class', 'roster', (p) => [sql`t.course_sourced_id = ${p.courseSourcedId}`]);
op('getAllDemographics', '/demographics', 'demographics', 'demographics', 'demographics');
op('getDemographics', '/demographics/{sourcedId}', 'demographics', 'demographics', 'demographics');
op('getAllEnrollments', '/enrollments', 'enrollments', 'enrollment', 'core');
op('getEnrollment', '/enrollments/{sourcedId}', 'enrollment', 'enrollment', 'core');
op('getAllGradingPeriods', '/gradingPeriods', 'academicSessions', 'academicSession', 'core', () => [type('gradingPeriod')]);
op('getGradingPeriod', '/gradingPeriods/{sourcedId}', 'academicSession', 'academicSession', 'core', () => [type('gradingPeriod')]);
op('getAllOrgs', '/orgs', 'orgs', 'org', 'core');
op('getOrg', '/orgs/{sourcedId}', 'org', 'org', 'core');
op('getAllSchools', '/schools', 'orgs', 'org', 'core', () => [type('school')]);
op('getSchool', '/schools/{sourcedId}', 'org', 'org', 'core', () => [type('school')]);
op('getClassesForSchool', '/schools/{schoolSourcedId}/classes', 'classes', 'class', 'roster', (p) => [sql`t.school_sourced_id = ${p.schoolSourcedId}`]);
op('getEnrollmentsForClassInSchool', '/schools/{schoolSourcedId}/classes/{classSourcedId}/enrollments', 'enrollments', 'enrollment', 'roster',
  (p) => [sql`t.school_sourced_id = ${p.schoolSourcedId}`, sql`t.class_sourced_id = ${p.classSourcedId}`]);
const classInSchool = (p: Record<string, string>) => sql`(select c.sourced_id from class c where c.sourced_id = ${p.classSourcedId} and c.school_sourced_id = ${p.schoolSourcedId})`;
op('getStudentsForClassInSchool', '/schools/{schoolSourcedId}/classes/{classSourcedId}/students', 'users', 'user', 'roster', (p) => [enrolled(classInSchool(p), 'student')]);
op('getTeachersForClassInSchool', '/schools/{schoolSourcedId}/classes/{classSourcedId}/teachers', 'users', 'user', 'roster', (p) => [enrolled(classInSchool(p), 'teacher')]);
op('getCoursesForSchool', '/schools/{schoolSourcedId}/courses', 'courses', 'course', 'roster', (p) => [
  sql`(t.org_sourced_id = ${p.schoolSourcedId} or t.sourced_id in (select c.course_sourced_id from class c where c.school_sourced_id = ${p.schoolSourcedId}))`,
]);
op('getEnrollmentsForSchool', '/schools/{schoolSourcedId}/enrollments', 'enrollments', 'enrollment', 'roster', (p) => [sql`t.school_sourced_id = ${p.schoolSourcedId}`]);
op('getStudentsForSchool', '/schools/{schoolSourcedId}/students', 'users', 'user', 'roster', (p) => [hasRole('student', p.schoolSourcedId)]);
op('getTeachersForSchool', '/schools/{schoolSourcedId}/teachers', 'users', 'user', 'roster', (p) => [hasRole('teacher', p.schoolSourcedId)]);
op('getTermsForSchool', '/schools/{schoolSourcedId}/terms', 'academicSessions', 'academicSession', 'roster', (p) => [
  type('term'), sql`t.sourced_id in (select unnest(c.term_sourced_ids) from class c where c.school_sourced_id = ${p.schoolSourcedId})`,
]);
op('getAllStudents', '/students', 'users', 'user', 'core', () => [hasRole('student')]);
op('getStudent', '/students/{sourcedId}', 'user', 'user', 'core', () => [hasRole('student')]);
op('getClassesForStudent', '/students/{studentSourcedId}/classes', 'classes', 'class', 'roster', (p) => [classesOf(p.studentSourcedId!, 'student')]);
// Teachers are a few percent of users, and sourcedIds often sort them together (after the students):
// testing users one by one for a teacher role walked most of the table for a page.
op('getAllTeachers', '/teachers', 'users', 'user', 'core', () => [], () => sql`select distinct r.user_sourced_id as id from user_role r where r.role = 'teacher'`);
op('getTeacher', '/teachers/{sourcedId}', 'user', 'user', 'core', () => [hasRole('teacher')]);
op('getClassesForTeacher', '/teachers/{teacherSourcedId}/classes', 'classes', 'class', 'roster', (p) => [classesOf(p.teacherSourcedId!, 'teacher')]);
op('getAllTerms', '/terms', 'academicSessions', 'academicSession', 'core', () => [type('term')]);
op('getTerm', '/terms/{sourcedId}', 'academicSession', 'academicSession', 'core', () => [type('term')]);
op('getClassesForTerm', '/terms/{termSourcedId}/classes', 'classes', 'class', 'roster', (p) => [sql`${p.termSourcedId}::text = any(t.term_sourced_ids)`]);
op('getGradingPeriodsForTerm', '/terms/{termSourcedId}/gradingPeriods', 'academicSessions', 'academicSession', 'roster', (p) => [
  type('gradingPeriod'), sql`t.parent_sourced_id = ${p.termSourcedId}`,
]);
op('getAllUsers', '/users', 'users', 'user', 'core');
op('getUser', '/users/{sourcedId}', 'user', 'user', 'core');
op('getClassesForUser', '/users/{userSourcedId}/classes', 'classes', 'class', 'roster', (p) => [classesOf(p.userSourcedId!)]);

export const operations: Operation[] = ops.map((o) => ({ ...o, kind: o.path.endsWith('/{sourcedId}') ? 'object' : 'collection' }));

export const BASE_PATH = '/ims/oneroster/rostering/v1p2';
