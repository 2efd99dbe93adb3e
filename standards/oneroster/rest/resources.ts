import { sql, type RawBuilder } from 'kysely';
import { snake } from '../../../src/sync/entities.ts';

/**
 * How each OneRoster 1.2 rostering and gradebook resource is read from the shared schema: the JSON it renders to
 * (built in SQL, one property per entry, so `fields` only builds what is asked for) and the fields
 * `filter` and `sort` may use (an allow-list: nothing else reaches SQL). The table is aliased `t`.
 */

export type ResourceName =
  | 'org' | 'academicSession' | 'course' | 'class' | 'user' | 'enrollment' | 'demographics'
  | 'category' | 'scoreScale' | 'lineItem' | 'result';

/** What a filterable field is, which decides the operators and how the value is bound. */
export type FieldKind = 'text' | 'datetime' | 'date' | 'boolean' | 'array' | 'year' | 'number';

export interface FilterField {
  kind: FieldKind;
  /** The SQL operand; for child fields, an expression over the child alias `c`. */
  expr: RawBuilder<unknown>;
  /** A field of a child row (`roles.role`): `select 1 from … where` over the row's children, aliased `c`, for an EXISTS. */
  child?: RawBuilder<unknown>;
}

export interface Resource {
  name: ResourceName;
  table: string;
  /**
   * Properties in the spec's order: name → SQL producing the JSON value (null leaves it out). `base`
   * is the service's base URL for rostering resources, and `…/ims/oneroster` for gradebook ones,
   * whose references point into both services.
   */
  properties: (base: RawBuilder<unknown>) => [string, RawBuilder<unknown>][];
  fields: Record<string, FilterField>;
  /**
   * Rows the service shows at all: users need a role, and a person written through Ed-Fi (the only
   * kind with an edfi_key) may have none yet. Rows from other doors always have one, so they pass on
   * the first test, which the covering index answers without visiting rows or roles.
   */
  visible?: RawBuilder<unknown>;
}

const t = (column: string) => sql.ref(`t.${column}`);
const ts = (column: string) => sql`to_char(${t(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const day = (expr: RawBuilder<unknown>) => sql`to_char(${expr}, 'YYYY-MM-DD')`;
const flag = (expr: RawBuilder<unknown>) => sql`case when ${expr} then 'true' when not ${expr} then 'false' end`;
// Paths and types are constants of this file, so they are inlined as literals.
const guidRef = (base: RawBuilder<unknown>, path: string, type: string, id: RawBuilder<unknown>) =>
  sql`case when ${id} is not null then json_build_object('href', ${base} || ${sql.lit(`/${path}/`)} || ${id}, 'sourcedId', ${id}, 'type', ${sql.lit(type)}) end`;
const guidRefs = (base: RawBuilder<unknown>, path: string, type: string, ids: RawBuilder<unknown>) =>
  sql`(select json_agg(json_build_object('href', ${base} || ${sql.lit(`/${path}/`)} || x.id, 'sourcedId', x.id, 'type', ${sql.lit(type)}) order by x.n)
      from unnest(${ids}) with ordinality as x(id, n))`;

const common = (): [string, RawBuilder<unknown>][] => [
  ['sourcedId', t('sourced_id')],
  ['status', t('status')],
  ['dateLastModified', ts('date_last_modified')],
  ['metadata', t('metadata')],
];

const roleRows = sql`select 1 from user_role c where c.user_sourced_id = t.sourced_id and`;
const userIdItems = sql`select 1 from jsonb_array_elements(t.user_ids) c where`;

const text = (column: string): FilterField => ({ kind: 'text', expr: t(column) });
const commonFields: Record<string, FilterField> = {
  sourcedId: text('sourced_id'),
  status: text('status'),
  dateLastModified: { kind: 'datetime', expr: t('date_last_modified') },
};
/** A reference filterable both as `parentSourcedId` (CSV style) and as `parent.sourcedId` (REST style). */
const refField = (name: string, column: string): Record<string, FilterField> => ({ [`${name}.sourcedId`]: text(column), [`${name}SourcedId`]: text(column) });

const number = (column: string): FilterField => ({ kind: 'number', expr: t(column) });
const instant = (column: string): FilterField => ({ kind: 'datetime', expr: t(column) });
const rostering = (path: string) => `rostering/v1p2/${path}`;
const gradebook = (path: string) => `gradebook/v1p2/${path}`;

export const resources: Record<ResourceName, Resource> = {
  org: {
    name: 'org', table: 'org',
    properties: (base) => [
      ...common(),
      ['name', t('name')],
      ['type', t('type')],
      // Required by REST, optional in CSV: an org without one says so with an empty string.
      ['identifier', sql`coalesce(${t('identifier')}, '')`],
      ['parent', guidRef(base, 'orgs', 'org', t('parent_sourced_id'))],
      ['children', sql`(select json_agg(json_build_object('href', ${base} || '/orgs/' || o.sourced_id, 'sourcedId', o.sourced_id, 'type', 'org') order by o.sourced_id)
        from org o where o.parent_sourced_id = t.sourced_id and o.status = 'active')`],
    ],
    fields: { ...commonFields, name: text('name'), type: text('type'), identifier: text('identifier'), ...refField('parent', 'parent_sourced_id') },
  },
  academicSession: {
    name: 'academicSession', table: 'academic_session',
    properties: (base) => [
      ...common(),
      ['title', t('title')],
      ['startDate', day(t('start_date'))],
      ['endDate', day(t('end_date'))],
      ['type', t('type')],
      ['parent', guidRef(base, 'academicSessions', 'academicSession', t('parent_sourced_id'))],
      ['children', sql`(select json_agg(json_build_object('href', ${base} || '/academicSessions/' || a.sourced_id, 'sourcedId', a.sourced_id, 'type', 'academicSession') order by a.sourced_id)
        from academic_session a where a.parent_sourced_id = t.sourced_id and a.status = 'active')`],
      ['schoolYear', t('school_year')],
    ],
    fields: {
      ...commonFields, title: text('title'), type: text('type'), startDate: { kind: 'date', expr: t('start_date') }, endDate: { kind: 'date', expr: t('end_date') },
      schoolYear: { kind: 'year', expr: t('school_year') }, ...refField('parent', 'parent_sourced_id'),
    },
  },
  course: {
    name: 'course', table: 'course',
    properties: (base) => [
      ...common(),
      ['title', t('title')],
      ['schoolYear', guidRef(base, 'academicSessions', 'academicSession', t('school_year_sourced_id'))],
      // Required by REST, optional in CSV.
      ['courseCode', sql`coalesce(${t('course_code')}, '')`],
      ['grades', sql`to_json(${t('grades')})`],
      ['subjects', sql`to_json(${t('subjects')})`],
      ['org', guidRef(base, 'orgs', 'org', t('org_sourced_id'))],
      ['subjectCodes', sql`to_json(${t('subject_codes')})`],
    ],
    fields: {
      ...commonFields, title: text('title'), courseCode: text('course_code'), grades: { kind: 'array', expr: t('grades') },
      subjects: { kind: 'array', expr: t('subjects') }, subjectCodes: { kind: 'array', expr: t('subject_codes') },
      ...refField('org', 'org_sourced_id'), ...refField('schoolYear', 'school_year_sourced_id'),
    },
  },
  class: {
    name: 'class', table: 'class',
    properties: (base) => [
      ...common(),
      ['title', t('title')],
      ['classCode', t('class_code')],
      ['classType', t('class_type')],
      ['location', t('location')],
      ['grades', sql`to_json(${t('grades')})`],
      ['subjects', sql`to_json(${t('subjects')})`],
      ['course', guidRef(base, 'courses', 'course', t('course_sourced_id'))],
      ['school', guidRef(base, 'orgs', 'org', t('school_sourced_id'))],
      ['terms', guidRefs(base, 'academicSessions', 'academicSession', t('term_sourced_ids'))],
      ['subjectCodes', sql`to_json(${t('subject_codes')})`],
      ['periods', sql`to_json(${t('periods')})`],
    ],
    fields: {
      ...commonFields, title: text('title'), classCode: text('class_code'), classType: text('class_type'), location: text('location'),
      grades: { kind: 'array', expr: t('grades') }, subjects: { kind: 'array', expr: t('subjects') }, subjectCodes: { kind: 'array', expr: t('subject_codes') },
      periods: { kind: 'array', expr: t('periods') }, ...refField('course', 'course_sourced_id'), ...refField('school', 'school_sourced_id'),
      'terms.sourcedId': { kind: 'array', expr: t('term_sourced_ids') }, termSourcedIds: { kind: 'array', expr: t('term_sourced_ids') },
    },
  },
  user: {
    name: 'user', table: 'user',
    visible: sql`(t.edfi_key is null or coalesce((select true from user_role r where r.user_sourced_id = t.sourced_id limit 1), false))`,
    properties: (base) => [
      ...common(),
      ['userMasterIdentifier', t('user_master_identifier')],
      ['username', t('username')],
      ['userIds', t('user_ids')],
      ['enabledUser', flag(t('enabled_user'))],
      ['givenName', t('given_name')],
      ['familyName', t('family_name')],
      ['middleName', t('middle_name')],
      ['preferredFirstName', t('preferred_first_name')],
      ['preferredMiddleName', t('preferred_middle_name')],
      ['preferredLastName', t('preferred_last_name')],
      ['pronouns', t('pronouns')],
      ['roles', sql`(select json_agg(json_strip_nulls(json_build_object('roleType', r.role_type, 'role', r.role,
          'org', ${guidRef(base, 'orgs', 'org', sql.ref('r.org_sourced_id'))}, 'userProfile', r.user_profile,
          'beginDate', ${day(sql.ref('r.begin_date'))}, 'endDate', ${day(sql.ref('r.end_date'))})) order by r.id)
        from user_role r where r.user_sourced_id = t.sourced_id)`],
      ['userProfiles', sql`(select json_agg(json_strip_nulls(json_build_object('profileId', p.profile_id, 'profileType', p.profile_type,
          'vendorId', p.vendor_id, 'applicationId', p.application_id, 'description', p.description, 'credentials', p.credentials)) order by p.id)
        from user_profile p where p.user_sourced_id = t.sourced_id)`],
      ['primaryOrg', guidRef(base, 'orgs', 'org', t('primary_org_sourced_id'))],
      ['identifier', t('identifier')],
      ['email', t('email')],
      ['sms', t('sms')],
      ['phone', t('phone')],
      ['agents', guidRefs(base, 'users', 'user', t('agent_sourced_ids'))],
      ['grades', sql`to_json(${t('grades')})`],
    ],
    fields: {
      ...commonFields, username: text('username'), givenName: text('given_name'), familyName: text('family_name'), middleName: text('middle_name'),
      preferredFirstName: text('preferred_first_name'), preferredLastName: text('preferred_last_name'), identifier: text('identifier'),
      email: text('email'), sms: text('sms'), phone: text('phone'), userMasterIdentifier: text('user_master_identifier'),
      enabledUser: { kind: 'boolean', expr: t('enabled_user') }, grades: { kind: 'array', expr: t('grades') },
      'agents.sourcedId': { kind: 'array', expr: t('agent_sourced_ids') }, ...refField('primaryOrg', 'primary_org_sourced_id'),
      'roles.role': { kind: 'text', expr: sql.ref('c.role'), child: roleRows },
      'roles.roleType': { kind: 'text', expr: sql.ref('c.role_type'), child: roleRows },
      'roles.org.sourcedId': { kind: 'text', expr: sql.ref('c.org_sourced_id'), child: roleRows },
      'roles.beginDate': { kind: 'date', expr: sql.ref('c.begin_date'), child: roleRows },
      'roles.endDate': { kind: 'date', expr: sql.ref('c.end_date'), child: roleRows },
      'userIds.type': { kind: 'text', expr: sql`c->>'type'`, child: userIdItems },
      'userIds.identifier': { kind: 'text', expr: sql`c->>'identifier'`, child: userIdItems },
    },
  },
  enrollment: {
    name: 'enrollment', table: 'enrollment',
    properties: (base) => [
      ...common(),
      ['user', guidRef(base, 'users', 'user', t('user_sourced_id'))],
      ['class', guidRef(base, 'classes', 'class', t('class_sourced_id'))],
      ['school', guidRef(base, 'orgs', 'org', t('school_sourced_id'))],
      ['role', t('role')],
      ['primary', flag(t('primary'))],
      ['beginDate', day(t('begin_date'))],
      ['endDate', day(t('end_date'))],
    ],
    fields: {
      ...commonFields, role: text('role'), primary: { kind: 'boolean', expr: t('primary') }, beginDate: { kind: 'date', expr: t('begin_date') },
      endDate: { kind: 'date', expr: t('end_date') }, ...refField('user', 'user_sourced_id'), ...refField('class', 'class_sourced_id'), ...refField('school', 'school_sourced_id'),
    },
  },
  demographics: {
    name: 'demographics', table: 'demographics',
    properties: () => [
      ...common(),
      ['birthDate', day(t('birth_date'))],
      ['sex', t('sex')],
      ...(['americanIndianOrAlaskaNative', 'asian', 'blackOrAfricanAmerican', 'nativeHawaiianOrOtherPacificIslander', 'white', 'demographicRaceTwoOrMoreRaces', 'hispanicOrLatinoEthnicity'] as const)
        .map((f): [string, RawBuilder<unknown>] => [f, flag(t(snake(f)))]),
      ['countryOfBirthCode', t('country_of_birth_code')],
      ['stateOfBirthAbbreviation', t('state_of_birth_abbreviation')],
      ['cityOfBirth', t('city_of_birth')],
      ['publicSchoolResidenceStatus', t('public_school_residence_status')],
    ],
    fields: {
      ...commonFields, birthDate: { kind: 'date', expr: t('birth_date') }, sex: text('sex'), countryOfBirthCode: text('country_of_birth_code'),
      stateOfBirthAbbreviation: text('state_of_birth_abbreviation'), cityOfBirth: text('city_of_birth'),
    },
  },
  category: {
    name: 'category', table: 'category',
    properties: () => [...common(), ['title', t('title')], ['weight', t('weight')]],
    fields: { ...commonFields, title: text('title'), weight: number('weight') },
  },
  scoreScale: {
    name: 'scoreScale', table: 'score_scale',
    properties: (base) => [
      ...common(),
      ['title', t('title')],
      ['type', t('type')],
      ['course', guidRef(base, rostering('courses'), 'course', t('course_sourced_id'))],
      ['class', guidRef(base, rostering('classes'), 'class', t('class_sourced_id'))],
      ['scoreScaleValue', t('score_scale_value')],
    ],
    fields: { ...commonFields, title: text('title'), type: text('type'), ...refField('course', 'course_sourced_id'), ...refField('class', 'class_sourced_id') },
  },
  lineItem: {
    name: 'lineItem', table: 'line_item',
    properties: (base) => [
      ...common(),
      ['title', t('title')],
      ['description', t('description')],
      ['assignDate', ts('assign_date')],
      ['dueDate', ts('due_date')],
      ['class', guidRef(base, rostering('classes'), 'class', t('class_sourced_id'))],
      ['school', guidRef(base, rostering('orgs'), 'org', t('school_sourced_id'))],
      ['category', guidRef(base, gradebook('categories'), 'category', t('category_sourced_id'))],
      ['gradingPeriod', guidRef(base, rostering('academicSessions'), 'academicSession', t('grading_period_sourced_id'))],
      ['academicSession', guidRef(base, rostering('academicSessions'), 'academicSession', t('academic_session_sourced_id'))],
      ['scoreScale', guidRef(base, gradebook('scoreScales'), 'scoreScale', t('score_scale_sourced_id'))],
      ['resultValueMin', t('result_value_min')],
      ['resultValueMax', t('result_value_max')],
      ['learningObjectiveSet', t('learning_objective_set')],
    ],
    fields: {
      ...commonFields, title: text('title'), description: text('description'), assignDate: instant('assign_date'), dueDate: instant('due_date'),
      resultValueMin: number('result_value_min'), resultValueMax: number('result_value_max'),
      ...refField('class', 'class_sourced_id'), ...refField('school', 'school_sourced_id'), ...refField('category', 'category_sourced_id'),
      ...refField('gradingPeriod', 'grading_period_sourced_id'), ...refField('academicSession', 'academic_session_sourced_id'),
      ...refField('scoreScale', 'score_scale_sourced_id'),
    },
  },
  result: {
    name: 'result', table: 'result',
    properties: (base) => [
      ...common(),
      ['lineItem', guidRef(base, gradebook('lineItems'), 'lineItem', t('line_item_sourced_id'))],
      ['student', guidRef(base, rostering('users'), 'user', t('student_sourced_id'))],
      ['class', guidRef(base, rostering('classes'), 'class', t('class_sourced_id'))],
      ['scoreScale', guidRef(base, gradebook('scoreScales'), 'scoreScale', t('score_scale_sourced_id'))],
      ['scoreStatus', t('score_status')],
      ['score', t('score')],
      ['textScore', t('text_score')],
      ['scoreDate', day(t('score_date'))],
      ['comment', t('comment')],
      ['learningObjectiveSet', t('learning_objective_set')],
      ...(['inProgress', 'incomplete', 'late', 'missing'] as const).map((f): [string, RawBuilder<unknown>] => [f, flag(t(snake(f)))]),
    ],
    fields: {
      ...commonFields, scoreStatus: text('score_status'), score: number('score'), textScore: text('text_score'),
      scoreDate: { kind: 'date', expr: t('score_date') }, comment: text('comment'),
      ...Object.fromEntries((['inProgress', 'incomplete', 'late', 'missing'] as const).map((f) => [f, { kind: 'boolean', expr: t(snake(f)) } as FilterField])),
      ...refField('lineItem', 'line_item_sourced_id'), ...refField('student', 'student_sourced_id'), ...refField('class', 'class_sourced_id'),
      ...refField('scoreScale', 'score_scale_sourced_id'),
    },
  },
};
