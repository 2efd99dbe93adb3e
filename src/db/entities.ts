import { defineEntity, p, Routine } from '@mikro-orm/core';

/**
 * The shared schema (ARCHITECTURE §3): the OneRoster 1.2 rostering model as the hub, Ed-Fi identity
 * beside it, provenance and sync bookkeeping. Only the reconcile engine (src/sync) writes these
 * tables; column names are what `src/sync/entities.ts` maps canonical records onto.
 */

/**
 * Where rows come from: a connector's kind and settings, its schedule, and its secrets, encrypted
 * (AES-256-GCM, src/auth/secret-box.ts) so the database never holds them in plain text. Sources
 * written by the CSV door or API writes have a kind and a name only.
 */
/**
 * What a sync compares for every id it is sent (src/sync/stage.ts): covering it lets an unchanged
 * re-sync answer from the index alone, without visiting the rows. On the large tables only.
 */
const seenIndex = (table: string, ...more: string[]) => ({
  name: `${table}_seen_idx`,
  expression: `create index "${table}_seen_idx" on "${table}" ("sourced_id") include (${['input_hash', 'content_hash', 'status', 'source_id', ...more].map((c) => `"${c}"`).join(', ')})`,
});

/**
 * Ed-Fi documents embed keys of other rows (a section's schoolId is its school's identifier, a
 * student section association's localCourseCode its course's code), so such a document changes
 * when only the row it points to does. The row's own stamps must not move then (its OneRoster JSON
 * names the other row by sourcedId only, and did not change), so it gets a version of its own:
 * `ref_version` (from the same sequence) and `ref_modified`, which the Ed-Fi views fold into
 * `_etag`, `_lastModifiedDate` and change windows (standards/edfi/views.ts). Triggers set them, so
 * every write path does: runs and API writes through either door.
 */
const refStamp = () => ({
  refVersion: p.bigint('number').nullable(),
  refModified: p.datetime(3).nullable(),
  /** Indexed together with ref_version (edfiVersionIndex): nothing looks rows up by their own version alone. */
  changeVersion: p.bigint('number'),
});
/** Ed-Fi change windows (minChangeVersion, maxChangeVersion) over a row's own and its references' versions. */
const edfiVersionIndex = (table: string) => ({
  name: `${table}_edfi_cv_idx`,
  expression: `create index "${table}_edfi_cv_idx" on "${table}" ((greatest("change_version", "ref_version")))`,
});

/**
 * Stamps a new ref version on the rows of `table` matching `where`. Rows this transaction wrote
 * already carry a version of it (their documents are read after commit), so they are left alone.
 */
const bump = (table: string, where: string) => `update ${table} set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (${where}) and xmin <> pg_current_xact_id()::xid;`;
/**
 * A trigger per row, only on rows where `when` holds if given (so other writes do not pay for it), whose
 * `body` (PL/pgSQL statements on `old` and `new`) bumps the rows that embed the row's keys.
 */
const keysTrigger = (table: string, event: 'insert' | 'update' | 'delete', when: string | null, body: string) => {
  const name = { insert: 'keys_added', update: 'keys_changed', delete: 'keys_removed' }[event];
  return {
    name, timing: 'after' as const, events: [event], forEach: 'row' as const,
    expression: `create function ${table}_${name}_fn() returns trigger language plpgsql as $$ begin
  ${body}
  return null;
end $$;
create trigger ${name} after ${event} on "${table}" for each row ${when ? `when (${when}) ` : ''}execute function ${table}_${name}_fn()`,
  };
};
/**
 * A trigger per insert statement whose `body` bumps, one statement per table, the rows that embed
 * the keys of the rows inserted (the transition table `added`): a bulk load of thousands of rows
 * pays for one join, not for a PL/pgSQL call and an index probe per row.
 */
const keysAdded = (table: string, body: string) => ({
  name: 'keys_added', timing: 'after' as const, events: ['insert' as const], forEach: 'statement' as const,
  expression: `create function ${table}_keys_added_fn() returns trigger language plpgsql as $$ begin
  ${body}
  return null;
end $$;
create trigger keys_added after insert on "${table}" referencing new table as added for each statement execute function ${table}_keys_added_fn()`,
});
/** An update trigger for changes of `keys`. */
const keysChanged = (table: string, keys: string[], body: string) =>
  keysTrigger(table, 'update', `(${keys.map((k) => `old.${k}`).join(', ')}, null) is distinct from (${keys.map((k) => `new.${k}`).join(', ')}, null)`, body);
/** Sessions whose Ed-Fi rows (one per school with classes in them) list the schools of classes in these terms. */
const sessionsOfTerms = (terms: string) => `sourced_id = any(${terms}) or parent_sourced_id = any(${terms})`;
/** Trigger code keeping `term_school` (which schools have classes in which terms) as class row `r` comes or goes. */
const termSchoolsAdd = (r: string) => `insert into term_school (term_sourced_id, school_sourced_id, classes)
    select distinct t, ${r}.school_sourced_id, 1 from unnest(${r}.term_sourced_ids) t where t is not null and ${r}.school_sourced_id is not null
    on conflict (term_sourced_id, school_sourced_id) do update set classes = term_school.classes + 1;`;
const termSchoolsRemove = (r: string) => `update term_school set classes = classes - 1
    where school_sourced_id = ${r}.school_sourced_id and term_sourced_id = any(${r}.term_sourced_ids);
  delete from term_school where classes <= 0 and school_sourced_id = ${r}.school_sourced_id and term_sourced_id = any(${r}.term_sourced_ids);`;
/** Bumps the classes matching `where` and the section associations (enrollments) embedding their section key. */
const bumpSections = (where: string) => `${bump('class', where)}
  ${bump('enrollment', `class_sourced_id in (select sourced_id from class where ${where})`)}`;

export const Source = defineEntity({
  name: 'Source',
  tableName: 'source',
  properties: {
    id: p.integer().primary().autoincrement(),
    name: p.text().unique(),
    kind: p.text(),
    /** Non-secret connector settings. */
    settings: p.json<Record<string, unknown>>().nullable(),
    /** Secret settings, encrypted. */
    secrets: p.text().nullable(),
    /** Cron expression; null: run only when asked. */
    schedule: p.text().nullable(),
    timezone: p.text().default('UTC'),
    enabled: p.boolean().default(true),
    /** Why the source needs a person before it can sync again (its credentials were refused); null: it does not. */
    needsAttention: p.text().nullable(),
    createdAt: p.datetime(3).defaultRaw('now()'),
    updatedAt: p.datetime(3).defaultRaw('now()'),
  },
});

/** Columns every canonical row carries: identity, lifecycle, change tracking and provenance. */
const rosterRow = () => ({
  sourcedId: p.text().primary(),
  /** Ed-Fi resource id; time-ordered (UUIDv7) so bulk inserts append to its index. */
  edfiId: p.uuid().unique(),
  status: p.text().index(),
  dateLastModified: p.datetime(3).index(),
  etag: p.text(),
  changeVersion: p.bigint('number').index(),
  contentHash: p.text(),
  /** Hash of the record exactly as the source sent it: when it matches, the row is unchanged. */
  inputHash: p.text().nullable(),
  source: () => p.manyToOne(Source).index(),
  nativeKey: p.text().nullable(),
  /** Ed-Fi natural key (identity members) of a row written through Ed-Fi; the Ed-Fi views read it (not indexed: lookups go by indexed columns). */
  edfiKey: p.json<Record<string, string | number>>().nullable(),
  /** Ed-Fi attributes with no OneRoster equivalent (descriptors, counts, …), kept for the Ed-Fi door. */
  edfi: p.json<Record<string, unknown>>().nullable(),
  metadata: p.json<Record<string, unknown>>().nullable(),
});

export const Org = defineEntity({
  name: 'Org',
  tableName: 'org',
  properties: {
    ...rosterRow(),
    ...refStamp(),
    name: p.text(),
    type: p.text().index(),
    identifier: p.text().nullable().index(),
    parent: () => p.manyToOne(Org).fieldName('parent_sourced_id').nullable().index(),
  },
  indexes: [
    edfiVersionIndex('org'),
    // The Ed-Fi door looks orgs up by their Ed-Fi id (edfi_org_id: a function of the migrations).
    { name: 'org_edfi_id_idx', expression: 'create index "org_edfi_id_idx" on "org" (edfi_org_id("identifier", "sourced_id"))' },
  ],
  triggers: [
    // An org's Ed-Fi id (and whether it is a school) is in its child orgs', courses', sections' (and
    // their associations'), sessions' and its people's associations' documents.
    keysChanged('org', ['identifier', 'type'], `${bump('org', 'parent_sourced_id = new.sourced_id')}
  ${bump('course', 'org_sourced_id = new.sourced_id')}
  ${bump('academic_session', sessionsOfTerms('array(select unnest(term_sourced_ids) from class where school_sourced_id = new.sourced_id)'))}
  ${bumpSections('school_sourced_id = new.sourced_id')}
  ${bump('"user"', 'sourced_id in (select user_sourced_id from user_role where org_sourced_id = new.sourced_id)')}`),
  ],
});

export const AcademicSession = defineEntity({
  name: 'AcademicSession',
  tableName: 'academic_session',
  properties: {
    ...rosterRow(),
    ...refStamp(),
    title: p.text(),
    type: p.text().index(),
    startDate: p.date(),
    endDate: p.date(),
    parent: () => p.manyToOne(AcademicSession).fieldName('parent_sourced_id').nullable().index(),
    schoolYear: p.text().index(),
  },
  indexes: [edfiVersionIndex('academic_session')],
  triggers: [
    // A term's school year, title and start date are in the section key of the classes it comes first in.
    keysChanged('academic_session', ['school_year', 'title', 'start_date', 'edfi_key'], bumpSections('term_sourced_ids[1] = new.sourced_id')),
    // Classes name their terms in an array (no foreign key), so a term can be purged while they still list it.
    keysTrigger('academic_session', 'delete', null, bumpSections('term_sourced_ids[1] = old.sourced_id')),
  ],
});

export const Course = defineEntity({
  name: 'Course',
  tableName: 'course',
  properties: {
    ...rosterRow(),
    ...refStamp(),
    title: p.text(),
    courseCode: p.text().nullable(),
    schoolYear: () => p.manyToOne(AcademicSession).fieldName('school_year_sourced_id').nullable().index(),
    grades: p.array().nullable(),
    subjects: p.array().nullable(),
    subjectCodes: p.array().nullable(),
    org: () => p.manyToOne(Org).fieldName('org_sourced_id').nullable().index(),
  },
  indexes: [edfiVersionIndex('course')],
  triggers: [
    // A course's code is the localCourseCode of its sections and their associations.
    keysChanged('course', ['course_code'], bumpSections('course_sourced_id = new.sourced_id')),
  ],
});

export const Class = defineEntity({
  name: 'Class',
  tableName: 'class',
  properties: {
    ...rosterRow(),
    ...refStamp(),
    title: p.text(),
    classCode: p.text().nullable(),
    classType: p.text().nullable().index(),
    location: p.text().nullable(),
    course: () => p.manyToOne(Course).fieldName('course_sourced_id').index(),
    school: () => p.manyToOne(Org).fieldName('school_sourced_id').index(),
    termSourcedIds: p.array(),
    grades: p.array().nullable(),
    subjects: p.array().nullable(),
    subjectCodes: p.array().nullable(),
    periods: p.array().nullable(),
    // Derived, for Ed-Fi: the id of the courseOffering a class from another door belongs to (md5 of
    // 'CO-', course, school and first term). Stored so that offering pages walk an index of it instead of
    // hashing every class. Written as PostgreSQL prints it back, so the schema diff sees no change.
    offeringId: p.uuid().nullable().generated(`(CASE WHEN (edfi_key IS NULL) THEN (md5(((((('CO-'::text || course_sourced_id) || '-'::text) || school_sourced_id) || '-'::text) || COALESCE(term_sourced_ids[1], ''::text))))::uuid ELSE NULL::uuid END) stored`),
  },
  indexes: [
    edfiVersionIndex('class'),
    { name: 'class_term_sourced_ids_gin', expression: 'create index "class_term_sourced_ids_gin" on "class" using gin ("term_sourced_ids")' },
    // Ed-Fi walks the courseOfferings derived from classes in id order, and finds them by id.
    { name: 'class_offering_id_idx', expression: 'create index "class_offering_id_idx" on "class" ("offering_id") where "offering_id" is not null' },
  ],
  triggers: [
    // A class's section key is in its associations; its school and terms decide which schools its sessions list.
    keysChanged('class', ['class_code', 'edfi_key', 'course_sourced_id', 'school_sourced_id', 'term_sourced_ids'], `if (old.class_code, old.edfi_key, old.course_sourced_id, old.school_sourced_id, old.term_sourced_ids[1])
      is distinct from (new.class_code, new.edfi_key, new.course_sourced_id, new.school_sourced_id, new.term_sourced_ids[1]) then
    ${bump('enrollment', 'class_sourced_id = new.sourced_id')}
  end if;
  if (old.school_sourced_id, old.term_sourced_ids) is distinct from (new.school_sourced_id, new.term_sourced_ids) then
    ${termSchoolsRemove('old')}
    ${termSchoolsAdd('new')}
    ${bump('academic_session', sessionsOfTerms('old.term_sourced_ids || new.term_sourced_ids'))}
  end if;`),
    // New classes put their school in their sessions, unless one of the school's earlier classes already had.
    keysAdded('class', `insert into term_school (term_sourced_id, school_sourced_id, classes)
    select t, a.school_sourced_id, count(distinct a.sourced_id) from added a cross join unnest(a.term_sourced_ids) t
    where t is not null and a.school_sourced_id is not null group by 1, 2
    on conflict (term_sourced_id, school_sourced_id) do update set classes = term_school.classes + excluded.classes;
  ${bump('academic_session', `exists (select 1 from (select distinct t, a.school_sourced_id as school from added a cross join unnest(a.term_sourced_ids) t) n
      where (academic_session.sourced_id = n.t or academic_session.parent_sourced_id = n.t)
        and not exists (select 1 from class c where c.school_sourced_id = n.school
          and c.term_sourced_ids && array[academic_session.sourced_id, academic_session.parent_sourced_id] and c.xmin <> pg_current_xact_id()::xid))`)}`),
    // A class purged for good may take its school out of its sessions (and renumber their rows).
    keysTrigger('class', 'delete', null, `${termSchoolsRemove('old')}
  ${bump('academic_session', sessionsOfTerms('old.term_sourced_ids'))}`),
  ],
});

export const User = defineEntity({
  name: 'User',
  tableName: 'user',
  properties: {
    ...rosterRow(),
    ...refStamp(),
    enabledUser: p.boolean(),
    username: p.text().nullable().index(),
    userIds: p.json<{ type: string; identifier: string }[]>().nullable(),
    givenName: p.text().index(),
    familyName: p.text().index(),
    middleName: p.text().nullable(),
    preferredFirstName: p.text().nullable(),
    preferredMiddleName: p.text().nullable(),
    preferredLastName: p.text().nullable(),
    pronouns: p.text().nullable(),
    identifier: p.text().nullable().index(),
    email: p.text().nullable().index(),
    sms: p.text().nullable(),
    phone: p.text().nullable(),
    agentSourcedIds: p.array().nullable(),
    grades: p.array().nullable(),
    userMasterIdentifier: p.text().nullable(),
    primaryOrg: () => p.manyToOne(Org).fieldName('primary_org_sourced_id').nullable().index(),
  },
  indexes: [
    edfiVersionIndex('user'),
    { name: 'user_agent_sourced_ids_gin', expression: 'create index "user_agent_sourced_ids_gin" on "user" using gin ("agent_sourced_ids")' },
    // Ed-Fi studentContactAssociations start from the students with agents, often few.
    { name: 'user_with_agents_idx', expression: 'create index "user_with_agents_idx" on "user" ("sourced_id") where "agent_sourced_ids" is not null' },
    // Ed-Fi person ids (studentUniqueId, staffUniqueId).
    { name: 'user_unique_id_idx', expression: 'create index "user_unique_id_idx" on "user" ((coalesce("identifier", "sourced_id")))' },
    // edfi_key too: the OneRoster door's visibility test (resources.ts) then reads the index alone.
    seenIndex('user', 'edfi_key'),
    // Ed-Fi pages walk the people sent through Ed-Fi as each kind (standards/edfi/views.ts people).
    ...(['studentUniqueId', 'staffUniqueId', 'contactUniqueId'] as const).map((key) => {
      const name = `user_edfi_${key.replace('UniqueId', '')}_idx`;
      return { name, expression: `create index "${name}" on "user" ("edfi_id") where "edfi_key" ? '${key}'` };
    }),
  ],
  triggers: [
    // A person's unique id is in their section associations and in the contact associations of the students they are an agent of.
    keysChanged('user', ['identifier'], `${bump('enrollment', 'user_sourced_id = new.sourced_id')}
  ${bump('"user"', 'agent_sourced_ids && array[new.sourced_id]')}`),
  ],
});

/**
 * The Ed-Fi id of the studentSchoolAssociation behind a student role: a UUID from the role's key
 * (the entry date as days since 2000-01-01, since a date's text form depends on settings and an
 * index needs an immutable expression), or the id it kept through a key change (`edfi.id`).
 * standards/edfi computes the same in JS.
 */
export const ssaIdSql = (user: string, org: string, begin: string, edfi: string) =>
  `coalesce((${edfi}->>'id')::uuid, md5('SSA-' || ${user} || '-' || ${org} || '-' || coalesce((${begin} - date '2000-01-01')::text, ''))::uuid)`;

/** The same for the staffEducationOrganizationAssignmentAssociation behind a staff role (the role is part of its key). */
export const seoaaIdSql = (user: string, org: string, begin: string, role: string) =>
  `md5('SEOAA-' || ${user} || '-' || ${org} || '-' || coalesce((${begin} - date '2000-01-01')::text, '') || '-' || ${role})::uuid`;

/** Ids of Ed-Fi associations derived from a row (a student's contact, demographics without an Ed-Fi original). */
export const scaIdSql = (student: string, contact: string) => `md5('SCA-' || ${student} || '-' || ${contact})::uuid`;
export const seoaIdSql = (user: string) => `md5('SEOA-' || ${user})::uuid`;

/**
 * The roles that make a user an Ed-Fi student, staff member or contact (standards/edfi/views.ts),
 * as SQL lists. Each kind's roles have an index in their people's Ed-Fi id order (below).
 */
export const edfiPersonRoles = {
  student: `('student')`,
  staff: `('teacher', 'aide', 'administrator', 'counselor', 'districtAdministrator', 'siteAdministrator', 'principal', 'systemAdministrator', 'proctor')`,
  contact: `('parent', 'guardian', 'relative')`,
} as const;

/** `user.roles[]`: part of the user's content (a role change is a user change). */
export const UserRole = defineEntity({
  name: 'UserRole',
  tableName: 'user_role',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    /** The role's own id where the source has one (roles.csv), so a delta can delete it. */
    sourcedId: p.text().nullable().index(),
    user: () => p.manyToOne(User).fieldName('user_sourced_id').deleteRule('cascade').index(),
    roleType: p.text(),
    role: p.text(),
    org: () => p.manyToOne(Org).fieldName('org_sourced_id').index(),
    userProfile: p.text().nullable(),
    beginDate: p.date().nullable(),
    endDate: p.date().nullable(),
    /** Ed-Fi attributes of the association behind the role (studentSchoolAssociation's entryGradeLevelDescriptor, …). */
    edfi: p.json<Record<string, unknown>>().nullable(),
    /** The user's Ed-Fi id (a user's never changes), set by the trigger below whichever door wrote the role. */
    userEdfiId: p.uuid().nullable(),
  },
  triggers: [{
    name: 'user_edfi_id', timing: 'before', events: ['insert', 'update'], forEach: 'row',
    expression: `create function user_role_user_edfi_id_fn() returns trigger language plpgsql as $$ begin
  new.user_edfi_id := (select u.edfi_id from "user" u where u.sourced_id = new.user_sourced_id);
  return new;
end $$;
create trigger user_edfi_id before insert or update on "user_role" for each row execute function user_role_user_edfi_id_fn()`,
  }],
  indexes: [
    // Ed-Fi students, staffs and contacts pages walk their kind's people in Ed-Fi id order from these, not
    // every user: people are clustered by when they were created (time-ordered ids), so staff created after
    // the students were only reached by walking past every student.
    ...Object.entries(edfiPersonRoles).map(([kind, roles]) => ({
      name: `user_role_edfi_${kind}_idx`,
      expression: `create index "user_role_edfi_${kind}_idx" on "user_role" ("user_edfi_id") where "role" in ${roles}`,
    })),
    { name: 'user_role_role_org_idx', properties: ['role', 'org'] },
    // The people with a role, in sourcedId order: a page of /teachers walks these, not every user.
    { name: 'user_role_role_user_idx', properties: ['role', 'user'] },
    // The Ed-Fi id of the studentSchoolAssociation behind a student role (standards/edfi).
    {
      name: 'user_role_edfi_id_idx',
      expression: `create index "user_role_edfi_id_idx" on "user_role" ((${ssaIdSql('"user_sourced_id"', '"org_sourced_id"', '"begin_date"', '"edfi"')}))`,
    },
    {
      name: 'user_role_seoaa_id_idx',
      expression: `create index "user_role_seoaa_id_idx" on "user_role" ((${seoaaIdSql('"user_sourced_id"', '"org_sourced_id"', '"begin_date"', '"role"')}))`,
    },
  ],
});

/** `user.userProfiles[]` (userProfiles.csv rows); credentials never carry a password here. */
export const UserProfile = defineEntity({
  name: 'UserProfile',
  tableName: 'user_profile',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    user: () => p.manyToOne(User).fieldName('user_sourced_id').deleteRule('cascade').index(),
    profileId: p.text(),
    profileType: p.text(),
    vendorId: p.text(),
    applicationId: p.text().nullable(),
    description: p.text().nullable(),
    credentials: p.json<{ type: string; username: string }[]>().nullable(),
  },
});

export const Enrollment = defineEntity({
  name: 'Enrollment',
  tableName: 'enrollment',
  properties: {
    ...rosterRow(),
    ...refStamp(),
    class: () => p.manyToOne(Class).fieldName('class_sourced_id').index(),
    school: () => p.manyToOne(Org).fieldName('school_sourced_id').index(),
    user: () => p.manyToOne(User).fieldName('user_sourced_id').index(),
    role: p.text().index(),
    primary: p.boolean().nullable(),
    beginDate: p.date().nullable(),
    endDate: p.date().nullable(),
  },
  indexes: [
    // The Ed-Fi walk of studentSectionAssociations in id order: the planner cannot know that the first 1% of
    // ids (by a load's order) are teachers' and would filter its way past them on the id index.
    { name: 'enrollment_student_edfi_id_idx', expression: `create index "enrollment_student_edfi_id_idx" on "enrollment" ("edfi_id") where "role" = 'student'` },
    edfiVersionIndex('enrollment'),
    seenIndex('enrollment'),
    // A source that names enrollments by its own ids (the Ed-Fi connector: an association whose key changed keeps its sourcedId) finds them by it; rows without one cost nothing.
    { name: 'enrollment_native_key_idx', expression: 'create index "enrollment_native_key_idx" on "enrollment" ("source_id", "native_key") where "native_key" is not null' },
  ],
});

/** Demographics share the user's sourcedId, as the standard asks. */
export const Demographics = defineEntity({
  name: 'Demographics',
  tableName: 'demographics',
  properties: {
    ...rosterRow(),
    birthDate: p.date().nullable(),
    sex: p.text().nullable(),
    americanIndianOrAlaskaNative: p.boolean().nullable(),
    asian: p.boolean().nullable(),
    blackOrAfricanAmerican: p.boolean().nullable(),
    nativeHawaiianOrOtherPacificIslander: p.boolean().nullable(),
    white: p.boolean().nullable(),
    demographicRaceTwoOrMoreRaces: p.boolean().nullable(),
    hispanicOrLatinoEthnicity: p.boolean().nullable(),
    countryOfBirthCode: p.text().nullable(),
    stateOfBirthAbbreviation: p.text().nullable(),
    cityOfBirth: p.text().nullable(),
    publicSchoolResidenceStatus: p.text().nullable(),
  },
  triggers: [
    // The birth date is in the student's (or staff member's) document.
    keysChanged('demographics', ['birth_date'], bump('"user"', 'sourced_id = new.sourced_id')),
    // Per row, unlike class: most demographics inserts are an Ed-Fi student's one row, which a statement trigger makes dearer.
    keysTrigger('demographics', 'insert', 'new.birth_date is not null', bump('"user"', 'sourced_id = new.sourced_id')),
    keysTrigger('demographics', 'delete', 'old.birth_date is not null', bump('"user"', 'sourced_id = old.sourced_id')),
  ],
  // Ed-Fi walks the studentEducationOrganizationAssociations derived from demographics in id order, and finds them by id.
  indexes: [{ name: 'demographics_seoa_id_idx', expression: `create index "demographics_seoa_id_idx" on "demographics" ((${seoaIdSql('"sourced_id"')}))` }],
});

/** Gradebook: a category of lineItems (homework, tests, …), optionally weighted. */
export const Category = defineEntity({
  name: 'Category',
  tableName: 'category',
  properties: {
    ...rosterRow(),
    title: p.text(),
    weight: p.double().nullable(),
  },
});

/** Gradebook: how a class's scores map to marks (`{itemValueLHS, itemValueRHS}` pairs). */
export const ScoreScale = defineEntity({
  name: 'ScoreScale',
  tableName: 'score_scale',
  properties: {
    ...rosterRow(),
    title: p.text(),
    type: p.text(),
    org: () => p.manyToOne(Org).fieldName('org_sourced_id').nullable().index(),
    course: () => p.manyToOne(Course).fieldName('course_sourced_id').nullable().index(),
    class: () => p.manyToOne(Class).fieldName('class_sourced_id').index(),
    scoreScaleValue: p.json<{ itemValueLHS: string; itemValueRHS: string }[]>(),
  },
});

/** Gradebook: an assignment or assessment of a class that results are recorded against. */
export const LineItem = defineEntity({
  name: 'LineItem',
  tableName: 'line_item',
  properties: {
    ...rosterRow(),
    title: p.text(),
    description: p.text().nullable(),
    assignDate: p.datetime(3).index(),
    dueDate: p.datetime(3).index(),
    class: () => p.manyToOne(Class).fieldName('class_sourced_id').index(),
    school: () => p.manyToOne(Org).fieldName('school_sourced_id').index(),
    category: () => p.manyToOne(Category).fieldName('category_sourced_id').index(),
    gradingPeriod: () => p.manyToOne(AcademicSession).fieldName('grading_period_sourced_id').nullable().index(),
    academicSession: () => p.manyToOne(AcademicSession).fieldName('academic_session_sourced_id').nullable().index(),
    scoreScale: () => p.manyToOne(ScoreScale).fieldName('score_scale_sourced_id').nullable().index(),
    resultValueMin: p.double().nullable(),
    resultValueMax: p.double().nullable(),
    learningObjectiveSet: p.json<{ source: string; learningObjectiveIds: string[] }[]>().nullable(),
  },
});

/** Gradebook: one student's score on one lineItem. */
export const Result = defineEntity({
  name: 'Result',
  tableName: 'result',
  properties: {
    ...rosterRow(),
    lineItem: () => p.manyToOne(LineItem).fieldName('line_item_sourced_id').index(),
    student: () => p.manyToOne(User).fieldName('student_sourced_id').index(),
    class: () => p.manyToOne(Class).fieldName('class_sourced_id').nullable().index(),
    scoreScale: () => p.manyToOne(ScoreScale).fieldName('score_scale_sourced_id').nullable().index(),
    scoreStatus: p.text().index(),
    score: p.double().nullable(),
    textScore: p.text().nullable(),
    scoreDate: p.date().index(),
    comment: p.text().nullable(),
    learningObjectiveSet: p.json<Record<string, unknown>[]>().nullable(),
    inProgress: p.boolean().nullable(),
    incomplete: p.boolean().nullable(),
    late: p.boolean().nullable(),
    missing: p.boolean().nullable(),
  },
  indexes: [seenIndex('result')],
});

export const SyncRun = defineEntity({
  name: 'SyncRun',
  tableName: 'sync_run',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    source: () => p.manyToOne(Source).index(),
    mode: p.text(),
    /** What started it: schedule, manual, upload, api. */
    trigger: p.text().default('manual'),
    /**
     * queued (asked for while the source was running) | running | succeeded | partial | held | failed |
     * rejected, and for all-or-nothing runs (CSV packages) invalid (errors, nothing applied) and
     * validated (a dry run without errors).
     */
    status: p.text().index(),
    complete: p.boolean().default(false),
    /** Entities whose unseen rows a complete bulk run tombstones. */
    bulkScope: p.array().nullable(),
    startedAt: p.datetime(3).defaultRaw('now()'),
    finishedAt: p.datetime(3).nullable(),
    counts: p.json<Record<string, Record<string, number>>>().nullable(),
    holdReason: p.text().nullable(),
    error: p.text().nullable(),
    /** Where the source's next incremental run starts (an Ed-Fi change version), set by runs that read everything up to it. */
    checkpoint: p.json<Record<string, unknown>>().nullable(),
    /** A fingerprint of everything the run read (a CSV package's bytes), when its caller could take one. */
    input: p.text().nullable(),
    /** The source's rows as the applied run left them (counts and checksums per table): see src/sync/unchanged-input.ts. */
    endState: p.text().nullable(),
    /** The earlier run whose input this one had again, with the source's rows as that run left them: nothing was read or written. */
    sameAs: p.bigint('number').nullable(),
  },
  // A source has at most one run waiting for it (src/sync/queue.ts).
  indexes: [{ name: 'sync_run_queued_idx', expression: `create unique index "sync_run_queued_idx" on "sync_run" ("source_id") where "status" = 'queued'` }],
});

export const SyncIssue = defineEntity({
  name: 'SyncIssue',
  tableName: 'sync_issue',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    run: () => p.manyToOne(SyncRun).deleteRule('cascade').index(),
    entity: p.text(),
    sourcedId: p.text().nullable(),
    field: p.text().nullable(),
    /** Where the record came from, when the source is a file (a CSV package's file and line). */
    file: p.text().nullable(),
    line: p.integer().nullable(),
    severity: p.text(),
    code: p.text(),
    message: p.text(),
  },
});

/**
 * Ed-Fi resources with no place in the OneRoster-shaped hub: descriptors, schoolYearTypes and
 * courseOfferings. One row per item, keyed by resource and natural key, with the same change
 * tracking as canonical rows (a global change version, an etag, a last-modified time, tombstones).
 */
export const EdfiDocument = defineEntity({
  name: 'EdfiDocument',
  tableName: 'edfi_document',
  properties: {
    id: p.uuid().primary(),
    resource: p.text(),
    /** The natural key, serialised in identity order: unique per resource. */
    naturalKey: p.text(),
    keyValues: p.json<Record<string, string | number>>(),
    body: p.json<Record<string, unknown>>(),
    status: p.text(),
    changeVersion: p.bigint('number'),
    etag: p.text(),
    lastModified: p.datetime(3),
    contentHash: p.text(),
  },
  uniques: [{ name: 'edfi_document_key_unique', properties: ['resource', 'naturalKey'] }],
  indexes: [
    { name: 'edfi_document_resource_cv_idx', properties: ['resource', 'changeVersion'] },
    // Collection pages walk a resource in id order.
    { name: 'edfi_document_resource_id_idx', properties: ['resource', 'id'] },
    // A student's studentEducationOrganizationAssociations: whether their demographics stand in for one, and what they project into them.
    {
      name: 'edfi_document_seoa_student_idx',
      expression: `create index "edfi_document_seoa_student_idx" on "edfi_document" (("key_values"->>'studentUniqueId')) where "resource" = 'studentEducationOrganizationAssociations'`,
    },
  ],
});

/**
 * Which schools have classes in which terms, and how many (kept by the class triggers): Ed-Fi lists a
 * session once per school whose classes use it, and reading that here costs an index lookup instead of
 * a pass over the term's classes.
 */
export const TermSchool = defineEntity({
  name: 'TermSchool',
  tableName: 'term_school',
  properties: {
    termSourcedId: p.text().primary(),
    schoolSourcedId: p.text().primary(),
    classes: p.integer(),
  },
});

/** Ed-Fi `/keyChanges`: a natural key changed by a PUT (only where Ed-Fi allows it), before and after. */
export const EdfiKeyChange = defineEntity({
  name: 'EdfiKeyChange',
  tableName: 'edfi_key_change',
  properties: {
    changeVersion: p.bigint('number').primary().autoincrement(false),
    resource: p.text(),
    id: p.uuid(),
    oldKeyValues: p.json<Record<string, unknown>>(),
    newKeyValues: p.json<Record<string, unknown>>(),
  },
  indexes: [{ name: 'edfi_key_change_resource_idx', properties: ['resource', 'changeVersion'] }],
});

/**
 * An API client (OAuth 2.0 client credentials). The secret is random and high-entropy, so a SHA-256
 * of it is enough at rest (slow hashes are for guessable passwords); it is shown once, when made.
 */
export const ApiClient = defineEntity({
  name: 'ApiClient',
  tableName: 'api_client',
  properties: {
    clientId: p.text().primary(),
    name: p.text(),
    secretHash: p.text(),
    scopes: p.array(),
    /** Orgs the client is limited to (with the orgs below them); null: every org. */
    orgs: p.array().nullable(),
    createdAt: p.datetime(3).defaultRaw('now()'),
    revokedAt: p.datetime(3).nullable(),
  },
});

/**
 * Who did what through the gateway's doors (FERPA: who saw which students): every API request, and
 * every admin action, with the route pattern, the path (ids, never query strings: a filter can hold
 * personal data), the status and how many records it returned or changed.
 */
export const AuditEvent = defineEntity({
  name: 'AuditEvent',
  tableName: 'audit_event',
  properties: {
    id: p.bigint().primary().autoincrement(),
    at: p.datetime(3).defaultRaw('now()').index(),
    /** client (an API client id), admin (the admin token), console (a console account), anonymous. */
    actorKind: p.text(),
    actor: p.text().nullable().index(),
    method: p.text(),
    route: p.text(),
    path: p.text(),
    status: p.integer(),
    records: p.integer().nullable(),
    requestId: p.text().nullable(),
  },
});

/** A person who signs in to the admin console. The password is stored as a scrypt hash only. */
export const AdminAccount = defineEntity({
  name: 'AdminAccount',
  tableName: 'admin_account',
  properties: {
    id: p.integer().primary().autoincrement(),
    username: p.text().unique(),
    passwordHash: p.text(),
    /** Failed sign-ins since the last good one; enough of them lock the account for a while. */
    failedAttempts: p.integer().default(0),
    lockedUntil: p.datetime(3).nullable(),
    createdAt: p.datetime(3).defaultRaw('now()'),
  },
});

/** A console session: the cookie holds a random token, the table only its SHA-256. */
export const AdminSession = defineEntity({
  name: 'AdminSession',
  tableName: 'admin_session',
  properties: {
    tokenHash: p.text().primary(),
    account: () => p.manyToOne(AdminAccount).deleteRule('cascade').index(),
    /** Every form of the session carries it (CSRF). */
    csrfToken: p.text(),
    expiresAt: p.datetime(3),
    createdAt: p.datetime(3).defaultRaw('now()'),
  },
});

/**
 * Ed-Fi `/deletes` for items that leave no tombstone row of their own (an association that is a
 * child row of a person): written when such an item is deleted through the Ed-Fi door.
 */
export const EdfiDeleted = defineEntity({
  name: 'EdfiDeleted',
  tableName: 'edfi_deleted',
  properties: {
    changeVersion: p.bigint('number').primary().autoincrement(false),
    resource: p.text(),
    id: p.uuid(),
    keyValues: p.json<Record<string, unknown>>(),
    deletedAt: p.datetime(3).defaultRaw('now()'),
  },
  indexes: [{ name: 'edfi_deleted_resource_idx', properties: ['resource', 'changeVersion'] }],
});

/**
 * SQL functions the Ed-Fi door's indexes need (created by the migrations, declared here so the
 * schema check knows them): an org's Ed-Fi id (its identifier when that is a number, else a
 * stable 48-bit number from its sourcedId).
 */
export const routines = [
  new Routine({
    name: 'edfi_org_id', type: 'function',
    params: { identifier: { type: 'text' }, sourced_id: { type: 'text' } },
    returns: { runtimeType: 'number', columnType: 'bigint' },
    expression: `create function edfi_org_id(identifier text, sourced_id text) returns bigint language sql immutable parallel safe
      return case when identifier ~ '^[0-9]{1,15}$' then identifier::bigint else ('x' || substr(md5(sourced_id), 1, 12))::bit(48)::bigint end`,
  }),
];

/**
 * Working tables stay out of the ORM metadata: `sync_seen` (every id each batch carried) and the
 * run's own stage tables `stage_<run>_<table>`, UNLOGGED and unindexed, written and read only in
 * bulk by src/sync; and `oneroster_cache` (rendered OneRoster JSON by etag, standards/oneroster/rest).
 */
export const workingTables = ['sync_seen', /^stage_\d+_/, 'oneroster_cache'];

export const entities = [
  Source,
  Org,
  AcademicSession,
  Course,
  Class,
  User,
  UserRole,
  UserProfile,
  Enrollment,
  Demographics,
  Category,
  ScoreScale,
  LineItem,
  Result,
  SyncRun,
  SyncIssue,
  ApiClient,
  AdminAccount,
  AdminSession,
  AuditEvent,
  EdfiDocument,
  EdfiKeyChange,
  TermSchool,
  EdfiDeleted,
];
