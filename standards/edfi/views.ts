import { sql, type RawBuilder } from 'kysely';
import { edfiPersonRoles, scaIdSql, seoaaIdSql, seoaIdSql, ssaIdSql } from '../../src/db/entities.ts';
import { snake } from '../../src/sync/entities.ts';
import { classificationOfRole, gradeCodes, raceFlags, sexCodes, termOfType } from './vocabulary.ts';

/**
 * How each Ed-Fi resource reads the shared schema: one SQL subquery per resource with the columns
 * every route needs (`sourced_id` of the row written, `id`, `status`, change version `cv`, `etag`,
 * last-modified `lm`, the item `doc`) and one column per query-by-example parameter, named as the
 * parameter. Routes wrap it (`select … from (<view>) v where …`): PostgreSQL flattens the
 * subquery, so filters reach the tables' indexes. Rows that did not come through Ed-Fi get their
 * Ed-Fi keys and required values derived as docs/mapping.md says; Ed-Fi attributes with no
 * OneRoster field come back from the row's `edfi` column.
 */

export type ParamType = 'string' | 'integer' | 'date' | 'boolean';

export interface View {
  from: RawBuilder<unknown>;
  /**
   * The same rows for walking a whole collection in `seq` order: its joins as row-by-row lookups
   * the planner cannot reorder (filters by other columns are slow here, so only unfiltered pages use
   * it). Several parts when the view is a UNION ALL: each is walked in order on its own and the
   * walks merged, as the planner would instead build and sort every row of the union. A part needs
   * only the columns a walk reads: seq, id, etag (a page's rows are read from the walk), status, the
   * change version `cv` (change windows) and the education organization a scope filters by.
   */
  pages?: RawBuilder<unknown>[];
  params: Record<string, ParamType>;
  /** Further columns writes need from a looked-up row (the child row behind an association). */
  internal?: string[];
}

const orgId = (alias: string) => `edfi_org_id(${alias}.identifier, ${alias}.sourced_id)`;
const day = (expr: string) => `to_char(${expr}, 'YYYY-MM-DD')`;
interface Stamp { cv: string; etag: string; lm: string }
const own = (a: string): Stamp => ({ cv: `${a}.change_version`, etag: `${a}.etag`, lm: `${a}.date_last_modified` });
/** The latest change to a key row `a`'s document embeds (set by triggers: src/db/entities.ts refStamp). */
const ref = (a: string): Stamp => ({ cv: `${a}.ref_version`, etag: `${a}.ref_version::text || '-' || left(${a}.content_hash, 8)`, lm: `${a}.ref_modified` });
/** The change version, etag and last-modified date of a document read from several rows: the newest of them (`first` never null). */
const newest = (first: Stamp, ...others: Stamp[]) => {
  const cv = `greatest(${[first, ...others].map((x) => x.cv).join(', ')})`;
  return `${cv} as cv, case ${others.map((x) => `when ${x.cv} = ${cv} then ${x.etag}`).join(' ')} else ${first.etag} end as etag,
  greatest(${[first, ...others].map((x) => x.lm).join(', ')}) as lm`;
};
/** A row's own stamps and its references' (the version matches an index, for change windows). */
const stamps = (a: string) => newest(own(a), ref(a));
/** A row's key, id, `seq` (its id, or an expression known equal that a walk is ordered by), status and stamps. */
const rowMeta = (alias: string, seq = `${alias}.edfi_id`) => `${alias}.sourced_id, ${alias}.edfi_id as id, ${seq} as seq, ${alias}.status, ${stamps(alias)}`;
const uri = (name: string, code: string) => `'uri://ed-fi.org/${name}#${code.replace(/'/g, "''")}'`;
const personId = (alias: string) => `coalesce(${alias}.identifier, ${alias}.sourced_id)`;

/** A OneRoster grade back to a GradeLevelDescriptor. */
const gradeDescriptor = (grade: string) =>
  `case ${grade} ${Object.entries(gradeCodes).map(([code, g]) => `when '${g}' then ${uri('GradeLevelDescriptor', code)}`).join(' ')} end`;

/** The five-part section key of class row `x` (stored for Ed-Fi sections, derived for the others). */
const sectionKey = (x: string) => `
  select coalesce(${x}.edfi_key->>'localCourseCode', c.course_code, c.sourced_id) as lcc,
    coalesce((${x}.edfi_key->>'schoolId')::bigint, ${orgId('o')}) as school_id,
    coalesce((${x}.edfi_key->>'schoolYear')::int, a.school_year::int) as school_year,
    coalesce(${x}.edfi_key->>'sessionName', a.title) as session_name,
    coalesce(${x}.edfi_key->>'sectionIdentifier', ${x}.class_code, ${x}.sourced_id) as section_id,
    a.start_date as term_start
  from (select 1) one
    left join course c on c.sourced_id = ${x}.course_sourced_id
    left join org o on o.sourced_id = ${x}.school_sourced_id
    left join academic_session a on a.sourced_id = ${x}.term_sourced_ids[1]`;
const sectionReference = `jsonb_build_object('localCourseCode', k.lcc, 'schoolId', k.school_id, 'schoolYear', k.school_year,
  'sectionIdentifier', k.section_id, 'sessionName', k.session_name)`;

/**
 * Whether user row `t` has one of these roles: a scalar subquery with LIMIT, so the planner probes
 * the index row by row (a page classifies only its own rows) instead of hashing every role first.
 */
const hasRole = (roles: string) => `coalesce((select true from user_role r where r.user_sourced_id = t.sourced_id and r.role in ${roles} limit 1), false)`;

/**
 * A person view: `columns` (after the row's own, rowMeta) over `"user" t` and its `joins`: people
 * sent through Ed-Fi as this kind (`idField` in their key), and OneRoster users with one of `roles`.
 * Pages walk the two apart: the first by a partial index of users; the second by the kind's index of
 * roles in their people's id order (`user_role_edfi_*_idx`), each person once and looked up by id (a
 * lateral LIMIT 1, so the planner cannot merge-join it with a walk of every user), its `seq` read from
 * the index so the walk needs no sort. Walking users and probing their roles instead passed every user
 * created before the first of the kind (staff loaded after the students: 40k probes a page).
 */
const people = (columns: string, joins: string, idField: string, roles: string, params: Record<string, ParamType>): View => ({
  from: sql.raw(`select ${rowMeta('t')}, ${columns} from "user" t ${joins} where (t.edfi_key ? '${idField}' or (t.edfi_key is null and ${hasRole(roles)}))`),
  pages: [
    sql.raw(`select ${rowMeta('t')}, ${columns} from "user" t ${joins} where t.edfi_key ? '${idField}'`),
    sql.raw(`select ${rowMeta('t', 'k.user_edfi_id')}, ${columns} from (select distinct r.user_edfi_id from user_role r where r.role in ${roles}) k
      ${join(true, '"user"', 't', 't.edfi_id = k.user_edfi_id')} ${joins} where t.edfi_key is null`),
  ],
  params,
});

/**
 * The row of `table` an association points to: a plain join, or (`walk`) a lateral subquery the
 * planner cannot flatten (LIMIT), so a page walks the association table in `seq` order and looks
 * the rest up row by row instead of joining every association before sorting.
 */
const join = (walk: boolean, table: string, alias: string, on: string) =>
  walk ? `cross join lateral (select * from ${table} ${alias} where ${on} limit 1) ${alias}` : `join ${table} ${alias} on ${on}`;

/** A view with both forms (see View.pages). */
const both = (text: (walk: boolean) => string, params: Record<string, ParamType>, internal?: string[]): View =>
  ({ from: sql.raw(text(false)), pages: [sql.raw(text(true))], params, ...(internal ? { internal } : {}) });

const sectionAssociationParams = (person: string): Record<string, ParamType> => ({
  [person]: 'string', beginDate: 'date', endDate: 'date', localCourseCode: 'string', schoolId: 'integer', schoolYear: 'integer',
  sectionIdentifier: 'string', sessionName: 'string',
});

/**
 * The schools of a session row, one view row each (an Ed-Fi session belongs to one school): the one
 * it was written with; else every school whose classes use it (or its parent), so each school's
 * sections find their session. The first school's row keeps the row's id; the others get one made
 * of it and the school. A term no class uses yet has one row without a school.
 */
const sessionSchools = (t: string) => `left join lateral (
    select (${t}.edfi_key->>'schoolId')::bigint as school_id, ${t}.edfi_id as id where ${t}.edfi_key ? 'schoolId'
    union all
    select x.school_id, case when x.n = 1 then ${t}.edfi_id else md5(${t}.edfi_id::text || '-' || x.school_id::text)::uuid end
    from (select ${orgId('o')} as school_id, row_number() over (order by o.sourced_id) as n
      -- The schools with classes in the term (term_school, kept by the class triggers), not the term's classes.
      from org o where o.sourced_id in (select ts.school_sourced_id from term_school ts
        where ts.term_sourced_id in (${t}.sourced_id, ${t}.parent_sourced_id))) x
    where not coalesce(${t}.edfi_key ? 'schoolId', false)) s on true`;
/** rowMeta for a view with a row per session and school. */
const sessionMeta = (t: string) =>
  `${t}.sourced_id, coalesce(s.id, ${t}.edfi_id) as id, coalesce(s.id, ${t}.edfi_id) as seq, ${t}.status, ${stamps(t)}`;

/** Weekdays between a session row's dates: Ed-Fi requires totalInstructionalDays, OneRoster has no calendar. */
const weekdays = (t: string) => `(select count(*)::int from generate_series(${t}.start_date, ${t}.end_date, interval '1 day') g where extract(isodow from g) < 6)`;

const classification = (role: string) =>
  `case ${role} ${Object.entries(classificationOfRole).map(([r, code]) => `when '${r}' then ${uri('StaffClassificationDescriptor', code)}`).join(' ')} end`;

const documents = (resource: string, columns: string) => `
  select d.id::text as sourced_id, d.id, d.id as seq, d.status, d.change_version as cv, d.etag, d.last_modified as lm, ${columns}, d.body as doc
  from edfi_document d where d.resource = '${resource}'`;

export function descriptorView(resource: string): View {
  return {
    from: sql.raw(documents(resource, `d.body->>'namespace' as "namespace", d.body->>'codeValue' as "codeValue", d.body->>'shortDescription' as "shortDescription"`)),
    params: { namespace: 'string', codeValue: 'string', shortDescription: 'string' },
  };
}

/** courseOfferings sent through Ed-Fi. */
const offeringDocuments = documents('courseOfferings', `d.key_values->>'localCourseCode' as "localCourseCode", (d.key_values->>'schoolId')::bigint as "schoolId",
      (d.key_values->>'schoolYear')::int as "schoolYear", d.key_values->>'sessionName' as "sessionName", d.body->>'localCourseTitle' as "localCourseTitle"`);
/** A derived offering is active while one of its classes is (over the class rows of alias `a`). */
const offeringStatus = (a: string) => `case when bool_or(${a}.status = 'active') then 'active' else 'tobedeleted' end`;
/** The change version an offering's class row `t` gives it: the class's and its course's (the offering shows the course's title and org). */
const offeringClassVersion = 'greatest(t.change_version, t.ref_version, c.change_version, c.ref_version)';
/** A derived offering's etag, from its change version (walks read it without building the offering). */
const offeringEtag = (cv: string) => `${cv}::text || '-offering'`;
/** One offering per course, school and term of the classes from other doors (their key read from the class's course, school and term). */
const derivedOfferings = `select min(x.sourced_id), x.offering_id, x.offering_id,
        ${offeringStatus('x')}, max(x.cv), ${offeringEtag('max(x.cv)')}, max(x.lm), x.lcc, x.school_id, x.school_year, x.session_name, min(x.course_title),
        jsonb_strip_nulls(jsonb_build_object('localCourseCode', x.lcc, 'localCourseTitle', min(x.course_title),
          'courseReference', jsonb_build_object('courseCode', x.lcc, 'educationOrganizationId', min(x.course_org)),
          'schoolReference', jsonb_build_object('schoolId', x.school_id),
          'sessionReference', jsonb_build_object('schoolId', x.school_id, 'schoolYear', x.school_year, 'sessionName', x.session_name)))
      from (select t.sourced_id, t.status, st.cv, st.lm, t.offering_id,
          k.lcc, k.school_id, k.school_year, k.session_name, c.title as course_title, ${orgId('co')} as course_org
        from class t cross join lateral (${sectionKey('t')}) k
          left join course c on c.sourced_id = t.course_sourced_id left join org co on co.sourced_id = c.org_sourced_id
          -- An offering reads its course's title and org as well as its classes.
          cross join lateral (select ${offeringClassVersion} as cv,
            greatest(t.date_last_modified, t.ref_modified, c.date_last_modified, c.ref_modified) as lm) st
        where t.offering_id is not null) x
      group by x.offering_id, x.lcc, x.school_id, x.school_year, x.session_name`;
/** The derived offerings' ids, etags, statuses and schools alone, for walking them: the distinct ids in order (an index-only walk), each one's classes looked up. */
const derivedOfferingKeys = `select g.id as seq, g.id, a.status, a.cv, ${offeringEtag('a.cv')} as etag, (select ${orgId('o')} from org o where o.sourced_id = a.school) as "schoolId"
  from (select distinct t.offering_id as id from class t where t.offering_id is not null) g
    cross join lateral (select ${offeringStatus('t')} as status, max(${offeringClassVersion}) as cv, min(t.school_sourced_id) as school
      from class t left join course c on c.sourced_id = t.course_sourced_id where t.offering_id = g.id) a`;

/** studentEducationOrganizationAssociations sent through Ed-Fi. */
const seoaDocuments = documents('studentEducationOrganizationAssociations',
  `(d.key_values->>'educationOrganizationId')::bigint as "educationOrganizationId", d.key_values->>'studentUniqueId' as "studentUniqueId"`);
/** One derived from a student's OneRoster demographics, for students with none sent through Ed-Fi. */
const seoaDerived = (walk: boolean) => `select m.sourced_id, ${seoaIdSql('m.sourced_id')} as id, ${seoaIdSql('m.sourced_id')} as seq, m.status,
        -- Read from the person's row too (their unique id, the school of their student role).
        ${newest(own('m'), own('u'), ref('u'))}, e.org_id as "educationOrganizationId", ${personId('u')} as "studentUniqueId",
        jsonb_strip_nulls(jsonb_build_object('educationOrganizationReference', jsonb_build_object('educationOrganizationId', e.org_id),
          'studentReference', jsonb_build_object('studentUniqueId', ${personId('u')}),
          'sexDescriptor', case m.sex ${Object.entries(sexCodes).map(([sex, code]) => `when '${sex}' then ${uri('SexDescriptor', code)}`).join(' ')} end,
          'hispanicLatinoEthnicity', m.hispanic_or_latino_ethnicity,
          'races', nullif(jsonb_path_query_array(jsonb_build_array(${Object.entries(raceFlags).map(([flag, code]) => `case when m.${snake(flag)} then jsonb_build_object('raceDescriptor', ${uri('RaceDescriptor', code)}) end`).join(', ')}), '$[*] ? (@ != null)'), '[]'::jsonb))) as doc
      from demographics m ${join(walk, '"user"', 'u', 'u.sourced_id = m.sourced_id')}
        cross join lateral (select ${orgId('o')} as org_id from user_role r join org o on o.sourced_id = r.org_sourced_id
          where r.user_sourced_id = m.sourced_id and r.role = 'student' order by r.id limit 1) e
      where not exists (select 1 from edfi_document x where x.resource = 'studentEducationOrganizationAssociations' and x.key_values->>'studentUniqueId' = ${personId('u')})`;

export const views: Record<string, View> = {
  localEducationAgencies: {
    from: sql.raw(`select ${rowMeta('t')}, ${orgId('t')} as "localEducationAgencyId", t.name as "nameOfInstitution",
      jsonb_build_object('localEducationAgencyId', ${orgId('t')}, 'nameOfInstitution', t.name,
        'localEducationAgencyCategoryDescriptor', ${uri('LocalEducationAgencyCategoryDescriptor', 'Regular public school district')},
        'categories', jsonb_build_array(jsonb_build_object('educationOrganizationCategoryDescriptor', ${uri('EducationOrganizationCategoryDescriptor', 'Local Education Agency')})))
        || coalesce(t.edfi, '{}') as doc
      from org t where t.type = 'district'`),
    params: { localEducationAgencyId: 'integer', nameOfInstitution: 'string' },
  },
  schools: {
    from: sql.raw(`select ${rowMeta('t')}, ${orgId('t')} as "schoolId", t.name as "nameOfInstitution",
        case when p.type = 'district' then ${orgId('p')} end as "localEducationAgencyId",
        jsonb_strip_nulls(jsonb_build_object('schoolId', ${orgId('t')}, 'nameOfInstitution', t.name,
          'localEducationAgencyReference', case when p.type = 'district' then jsonb_build_object('localEducationAgencyId', ${orgId('p')}) end,
          'educationOrganizationCategories', jsonb_build_array(jsonb_build_object('educationOrganizationCategoryDescriptor', ${uri('EducationOrganizationCategoryDescriptor', 'School')})),
          'gradeLevels', '[]'::jsonb)) || coalesce(t.edfi, '{}') as doc
      from org t left join org p on p.sourced_id = t.parent_sourced_id where t.type = 'school'`),
    params: { schoolId: 'integer', nameOfInstitution: 'string', localEducationAgencyId: 'integer' },
  },
  schoolYearTypes: {
    from: sql.raw(documents('schoolYearTypes', `(d.key_values->>'schoolYear')::int as "schoolYear", (d.body->>'currentSchoolYear')::boolean as "currentSchoolYear"`)),
    params: { schoolYear: 'integer', currentSchoolYear: 'boolean' },
  },
  sessions: {
    from: sql.raw(`select ${sessionMeta('t')}, s.school_id as "schoolId", t.school_year::int as "schoolYear", t.title as "sessionName",
        t.start_date as "beginDate", t.end_date as "endDate", coalesce(t.edfi->>'termDescriptor', tt.term) as "termDescriptor",
        jsonb_strip_nulls(jsonb_build_object('sessionName', t.title, 'schoolReference', jsonb_build_object('schoolId', s.school_id),
          'schoolYearTypeReference', jsonb_build_object('schoolYear', t.school_year::int), 'beginDate', ${day('t.start_date')},
          'endDate', ${day('t.end_date')}, 'termDescriptor', tt.term,
          'totalInstructionalDays', ${weekdays('t')})) || coalesce(t.edfi, '{}') as doc
      from academic_session t
        ${sessionSchools('t')}
        cross join lateral (select case t.type ${Object.entries(termOfType).map(([type, code]) => `when '${type}' then ${uri('TermDescriptor', code)}`).join(' ')} end as term) tt
      where (t.edfi_key ? 'sessionName' or (t.edfi_key is null and t.type in ('term', 'semester')))`),
    params: { schoolId: 'integer', schoolYear: 'integer', sessionName: 'string', beginDate: 'date', endDate: 'date', termDescriptor: 'string' },
  },
  gradingPeriods: {
    from: sql.raw(`select ${sessionMeta('t')}, s.school_id as "schoolId", t.school_year::int as "schoolYear", t.title as "gradingPeriodName",
        t.start_date as "beginDate", t.end_date as "endDate", coalesce(t.edfi->>'gradingPeriodDescriptor', g.descriptor) as "gradingPeriodDescriptor",
        jsonb_strip_nulls(jsonb_build_object('gradingPeriodName', t.title, 'gradingPeriodDescriptor', g.descriptor,
          'schoolReference', jsonb_build_object('schoolId', s.school_id), 'schoolYearTypeReference', jsonb_build_object('schoolYear', t.school_year::int),
          'beginDate', ${day('t.start_date')}, 'endDate', ${day('t.end_date')}, 'totalInstructionalDays', ${weekdays('t')})) || coalesce(t.edfi, '{}') as doc
      from academic_session t
        ${sessionSchools('t')}
        -- OneRoster has no grading-period vocabulary: the title, in the gateway's own descriptor namespace.
        cross join lateral (select 'uri://rostergate.org/GradingPeriodDescriptor#' || left(t.title, 50) as descriptor) g
      where (t.edfi_key ? 'gradingPeriodName' or (t.edfi_key is null and t.type = 'gradingPeriod'))`),
    params: { schoolId: 'integer', schoolYear: 'integer', gradingPeriodName: 'string', gradingPeriodDescriptor: 'string', beginDate: 'date', endDate: 'date' },
  },
  courses: {
    from: sql.raw(`select ${rowMeta('t')}, coalesce(t.course_code, t.sourced_id) as "courseCode", ${orgId('o')} as "educationOrganizationId",
        t.title as "courseTitle",
        jsonb_strip_nulls(jsonb_build_object('courseCode', coalesce(t.course_code, t.sourced_id), 'courseTitle', t.title, 'numberOfParts', 1,
          'identificationCodes', jsonb_build_array(jsonb_build_object('courseIdentificationSystemDescriptor', ${uri('CourseIdentificationSystemDescriptor', 'LEA course code')},
            'identificationCode', coalesce(t.course_code, t.sourced_id))),
          'educationOrganizationReference', jsonb_build_object('educationOrganizationId', ${orgId('o')}))) || coalesce(t.edfi, '{}') as doc
      from course t left join org o on o.sourced_id = t.org_sourced_id`),
    params: { courseCode: 'string', educationOrganizationId: 'integer', courseTitle: 'string' },
  },
  // What was sent through Ed-Fi, and one offering per course, school and term of the classes from other doors.
  courseOfferings: {
    from: sql.raw(`${offeringDocuments} union all ${derivedOfferings}`),
    pages: [sql.raw(offeringDocuments), sql.raw(derivedOfferingKeys)],
    params: { localCourseCode: 'string', schoolId: 'integer', schoolYear: 'integer', sessionName: 'string', localCourseTitle: 'string' },
  },
  sections: {
    from: sql.raw(`select ${rowMeta('t')}, k.lcc as "localCourseCode", k.school_id as "schoolId", k.school_year as "schoolYear",
        k.session_name as "sessionName", k.section_id as "sectionIdentifier", t.title as "sectionName",
        jsonb_strip_nulls(jsonb_build_object('sectionIdentifier', k.section_id, 'sectionName', t.title,
          'courseOfferingReference', jsonb_build_object('localCourseCode', k.lcc, 'schoolId', k.school_id, 'schoolYear', k.school_year, 'sessionName', k.session_name)))
          || coalesce(t.edfi, '{}') as doc
      from class t cross join lateral (${sectionKey('t')}) k`),
    params: { localCourseCode: 'string', schoolId: 'integer', schoolYear: 'integer', sessionName: 'string', sectionIdentifier: 'string', sectionName: 'string' },
  },
  students: people(`${personId('t')} as "studentUniqueId", t.given_name as "firstName", t.family_name as "lastSurname",
        t.middle_name as "middleName", d.birth_date as "birthDate",
        jsonb_strip_nulls(jsonb_build_object('studentUniqueId', ${personId('t')}, 'firstName', t.given_name, 'lastSurname', t.family_name,
          'middleName', t.middle_name, 'preferredFirstName', t.preferred_first_name, 'preferredLastSurname', t.preferred_last_name,
          'birthDate', ${day('d.birth_date')})) || coalesce(t.edfi, '{}') as doc`,
    'left join demographics d on d.sourced_id = t.sourced_id', 'studentUniqueId', edfiPersonRoles.student, { studentUniqueId: 'string', firstName: 'string', lastSurname: 'string', middleName: 'string', birthDate: 'date' }),
  staffs: people(`${personId('t')} as "staffUniqueId", t.given_name as "firstName", t.family_name as "lastSurname",
        t.middle_name as "middleName", t.username as "loginId",
        jsonb_strip_nulls(jsonb_build_object('staffUniqueId', ${personId('t')}, 'firstName', t.given_name, 'lastSurname', t.family_name,
          'middleName', t.middle_name, 'preferredFirstName', t.preferred_first_name, 'preferredLastSurname', t.preferred_last_name,
          'loginId', t.username, 'birthDate', ${day('d.birth_date')},
          'electronicMails', case when t.email is not null then jsonb_build_array(jsonb_build_object('electronicMailAddress', t.email,
            'electronicMailTypeDescriptor', ${uri('ElectronicMailTypeDescriptor', 'Work')})) end)) || coalesce(t.edfi, '{}') as doc`,
    'left join demographics d on d.sourced_id = t.sourced_id', 'staffUniqueId', edfiPersonRoles.staff, { staffUniqueId: 'string', firstName: 'string', lastSurname: 'string', middleName: 'string', loginId: 'string' }),
  contacts: people(`${personId('t')} as "contactUniqueId", t.given_name as "firstName", t.family_name as "lastSurname",
        t.middle_name as "middleName", t.username as "loginId",
        jsonb_strip_nulls(jsonb_build_object('contactUniqueId', ${personId('t')}, 'firstName', t.given_name, 'lastSurname', t.family_name,
          'middleName', t.middle_name, 'preferredFirstName', t.preferred_first_name, 'preferredLastSurname', t.preferred_last_name, 'loginId', t.username,
          'electronicMails', case when t.email is not null then jsonb_build_array(jsonb_build_object('electronicMailAddress', t.email,
            'electronicMailTypeDescriptor', ${uri('ElectronicMailTypeDescriptor', 'Home/Personal')})) end)) || coalesce(t.edfi, '{}') as doc`,
    '', 'contactUniqueId', edfiPersonRoles.contact, { contactUniqueId: 'string', firstName: 'string', lastSurname: 'string', middleName: 'string', loginId: 'string' }),
  // A student's contacts are the user's agents; the association's own attributes, when sent through Ed-Fi, sit in edfi_document.
  studentContactAssociations: {
    from: sql.raw(`select s.sourced_id, ${scaIdSql('s.sourced_id', 'a.id')} as id, ${scaIdSql('s.sourced_id', 'a.id')} as seq, s.status,
        ${newest(own('s'), ref('s'), { cv: 'd.change_version', etag: 'd.etag', lm: 'd.last_modified' })}, a.id as contact_sourced_id,
        ${personId('c')} as "contactUniqueId", ${personId('s')} as "studentUniqueId", d.body->>'relationDescriptor' as "relationDescriptor",
        jsonb_build_object('contactReference', jsonb_build_object('contactUniqueId', ${personId('c')}),
          'studentReference', jsonb_build_object('studentUniqueId', ${personId('s')})) || coalesce(d.body, '{}') as doc
      from "user" s cross join unnest(s.agent_sourced_ids) as a(id)
        join "user" c on c.sourced_id = a.id
        left join edfi_document d on d.resource = 'studentContactAssociations' and d.status = 'active' and d.natural_key = s.sourced_id || '|' || a.id
      where s.agent_sourced_ids is not null`),
    params: { contactUniqueId: 'string', studentUniqueId: 'string', relationDescriptor: 'string' },
  },
  // Demographics by education organization: what was sent through Ed-Fi, else one derived from the OneRoster demographics.
  studentEducationOrganizationAssociations: {
    from: sql.raw(`${seoaDocuments} union all ${seoaDerived(false)}`),
    pages: [sql.raw(seoaDocuments), sql.raw(seoaDerived(true))],
    params: { educationOrganizationId: 'integer', studentUniqueId: 'string' },
  },
  staffEducationOrganizationAssignmentAssociations: both((walk) => `select r.user_sourced_id as sourced_id,
        ${seoaaIdSql('r.user_sourced_id', 'r.org_sourced_id', 'r.begin_date', 'r.role')} as id, r.id as seq,
        u.status, ${stamps('u')}, r.org_sourced_id as role_org, r.begin_date as role_begin, r.role as role_name,
        ${personId('u')} as "staffUniqueId", ${orgId('o')} as "educationOrganizationId", r.begin_date as "beginDate", r.end_date as "endDate",
        coalesce(r.edfi->>'staffClassificationDescriptor', ${classification('r.role')}) as "staffClassificationDescriptor",
        jsonb_strip_nulls(jsonb_build_object('beginDate', ${day('r.begin_date')}, 'educationOrganizationReference', jsonb_build_object('educationOrganizationId', ${orgId('o')}),
          'staffReference', jsonb_build_object('staffUniqueId', ${personId('u')}), 'staffClassificationDescriptor', ${classification('r.role')},
          'endDate', ${day('r.end_date')})) || coalesce(r.edfi, '{}') as doc
      from user_role r
        ${join(walk, '"user"', 'u', 'u.sourced_id = r.user_sourced_id')}
        ${join(walk, 'org', 'o', 'o.sourced_id = r.org_sourced_id')}
      where r.role in ${edfiPersonRoles.staff}`, { staffUniqueId: 'string', educationOrganizationId: 'integer', beginDate: 'date', endDate: 'date', staffClassificationDescriptor: 'string' },
    ['role_org', 'role_begin', 'role_name']),
  studentSchoolAssociations: both((walk) => `select r.user_sourced_id as sourced_id,
        ${ssaIdSql('r.user_sourced_id', 'r.org_sourced_id', 'r.begin_date', 'r.edfi')} as id, r.id as seq,
        u.status, ${stamps('u')}, r.org_sourced_id as role_org, r.begin_date as role_begin,
        ${personId('u')} as "studentUniqueId", ${orgId('o')} as "schoolId", r.begin_date as "entryDate", r.end_date as "exitWithdrawDate",
        jsonb_strip_nulls(jsonb_build_object('entryDate', ${day('r.begin_date')}, 'schoolReference', jsonb_build_object('schoolId', ${orgId('o')}),
          'studentReference', jsonb_build_object('studentUniqueId', ${personId('u')}), 'exitWithdrawDate', ${day('r.end_date')},
          'entryGradeLevelDescriptor', ${gradeDescriptor('u.grades[1]')})) || coalesce(r.edfi, '{}') as doc
      from user_role r
        ${join(walk, '"user"', 'u', 'u.sourced_id = r.user_sourced_id')}
        ${join(walk, 'org', 'o', "o.sourced_id = r.org_sourced_id and o.type = 'school'")}
      where r.role = 'student'`, { studentUniqueId: 'string', schoolId: 'integer', entryDate: 'date', exitWithdrawDate: 'date' }, ['role_org', 'role_begin']),
  studentSectionAssociations: both((walk) => `select ${rowMeta('t')}, ${personId('u')} as "studentUniqueId", coalesce(t.begin_date, k.term_start) as "beginDate", t.end_date as "endDate",
        k.lcc as "localCourseCode", k.school_id as "schoolId", k.school_year as "schoolYear", k.section_id as "sectionIdentifier", k.session_name as "sessionName",
        jsonb_strip_nulls(jsonb_build_object('beginDate', ${day('coalesce(t.begin_date, k.term_start)')}, 'sectionReference', ${sectionReference},
          'studentReference', jsonb_build_object('studentUniqueId', ${personId('u')}), 'endDate', ${day('t.end_date')})) || coalesce(t.edfi, '{}') as doc
      from enrollment t
        ${join(walk, '"user"', 'u', 'u.sourced_id = t.user_sourced_id')}
        ${join(walk, 'class', 'x', 'x.sourced_id = t.class_sourced_id')}
        cross join lateral (${sectionKey('x')}) k
      where t.role = 'student'`, sectionAssociationParams('studentUniqueId')),
  staffSectionAssociations: both((walk) => `select ${rowMeta('t')}, ${personId('u')} as "staffUniqueId", coalesce(t.begin_date, k.term_start) as "beginDate", t.end_date as "endDate",
        k.lcc as "localCourseCode", k.school_id as "schoolId", k.school_year as "schoolYear", k.section_id as "sectionIdentifier", k.session_name as "sessionName",
        jsonb_strip_nulls(jsonb_build_object('beginDate', ${day('coalesce(t.begin_date, k.term_start)')}, 'sectionReference', ${sectionReference},
          'staffReference', jsonb_build_object('staffUniqueId', ${personId('u')}), 'endDate', ${day('t.end_date')},
          'classroomPositionDescriptor', case when t."primary" then ${uri('ClassroomPositionDescriptor', 'Teacher of Record')}
            else ${uri('ClassroomPositionDescriptor', 'Support Teacher')} end)) || coalesce(t.edfi, '{}') as doc
      from enrollment t
        ${join(walk, '"user"', 'u', 'u.sourced_id = t.user_sourced_id')}
        ${join(walk, 'class', 'x', 'x.sourced_id = t.class_sourced_id')}
        cross join lateral (${sectionKey('x')}) k
      where t.role <> 'student'`, sectionAssociationParams('staffUniqueId')),
};
