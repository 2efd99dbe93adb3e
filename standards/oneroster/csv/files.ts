import { classTypes, enrollmentRoles, learningObjectiveSources, orgTypes, roleValues, scoreStatuses, sessionTypes, sexValues } from '../../../src/sync/records.ts';

/**
 * The rostering and gradebook files of the OneRoster 1.2.1 CSV binding (reference §3.2–3.3): exact headers in
 * order, CSV requiredness, value kinds and the canonical field each column feeds. Names mirror the
 * standard so the table can be read beside it.
 */

export type Kind =
  | 'id'
  | 'text'
  | 'date'
  /** `YYYY-MM-DDTHH:MM:SS.sssZ` (assignDate, dueDate). */
  | 'datetime'
  | 'year'
  | 'number'
  /** `{itemValueLHS:itemValueRHS}` items, comma-separated. */
  | 'scoreScaleValue'
  | 'boolean'
  | 'list'
  | 'userIds'
  | { vocabulary: readonly string[] }
  | { closed: readonly string[] }
  /** Read and dropped: passwords are never stored; resourceSourcedIds left 1.2.1. */
  | 'dropped';

export interface Column {
  name: string;
  kind: Kind;
  required: boolean;
  /** The canonical field it feeds (default: the column name). */
  field: string;
}

export type FileName =
  | 'orgs' | 'academicSessions' | 'courses' | 'classes' | 'users' | 'roles' | 'userProfiles' | 'enrollments' | 'demographics'
  | 'categories' | 'scoreScales' | 'lineItems' | 'results'
  | 'lineItemLearningObjectiveIds' | 'lineItemScoreScales' | 'resultLearningObjectiveIds' | 'resultScoreScales';

export interface CsvFile {
  name: FileName;
  /** `orgs.csv` */
  fileName: string;
  /** Columns after sourcedId, status, dateLastModified, which every file starts with. */
  columns: Column[];
  /**
   * A link file (lineItemScoreScales.csv, …): its rows are part of a lineItem or result, whose id
   * is in this column. A deleted link row is read whole, since what it unlinks is in its cells.
   */
  owner?: string;
}

export const commonColumns = ['sourcedId', 'status', 'dateLastModified'] as const;

/** `name` required, `name?` optional, `name>field` renamed. */
function cols(spec: Record<string, Kind>): Column[] {
  return Object.entries(spec).map(([key, kind]) => {
    const required = !key.includes('?');
    const [name, field] = key.replace('?', '').split('>') as [string, string | undefined];
    return { name, kind, required, field: field ?? name };
  });
}

const vocabulary = (values: readonly string[]) => ({ vocabulary: values });
const flag = 'boolean' as const;

const roles11 = ['administrator', 'aide', 'guardian', 'parent', 'proctor', 'relative', 'student', 'teacher'] as const;

const usersHead = { 'enabledUser': 'boolean', 'username': 'text', 'userIds?': 'userIds', 'givenName': 'text', 'familyName': 'text', 'middleName?': 'text', 'identifier?': 'text', 'email?': 'text', 'sms?': 'text', 'phone?': 'text', 'agentSourcedIds?': 'list', 'grades?': 'list', 'password?': 'dropped', 'userMasterIdentifier?': 'text' } satisfies Record<string, Kind>;
const usersTail = { 'preferredGivenName?>preferredFirstName': 'text', 'preferredMiddleName?': 'text', 'preferredFamilyName?>preferredLastName': 'text', 'primaryOrgSourcedId?': 'id', 'pronouns?': 'text' } satisfies Record<string, Kind>;

export const files: Record<FileName, CsvFile> = {
  orgs: { name: 'orgs', fileName: 'orgs.csv', columns: cols({ 'name': 'text', 'type': vocabulary(orgTypes), 'identifier?': 'text', 'parentSourcedId?': 'id' }) },
  academicSessions: {
    name: 'academicSessions', fileName: 'academicSessions.csv',
    columns: cols({ 'title': 'text', 'type': vocabulary(sessionTypes), 'startDate': 'date', 'endDate': 'date', 'parentSourcedId?': 'id', 'schoolYear': 'year' }),
  },
  courses: {
    name: 'courses', fileName: 'courses.csv',
    columns: cols({ 'schoolYearSourcedId?': 'id', 'title': 'text', 'courseCode?': 'text', 'grades?': 'list', 'orgSourcedId': 'id', 'subjects?': 'list', 'subjectCodes?': 'list' }),
  },
  classes: {
    name: 'classes', fileName: 'classes.csv',
    columns: cols({
      'title': 'text', 'grades?': 'list', 'courseSourcedId': 'id', 'classCode?': 'text', 'classType': vocabulary(classTypes), 'location?': 'text',
      'schoolSourcedId': 'id', 'termSourcedIds': 'list', 'subjects?': 'list', 'subjectCodes?': 'list', 'periods?': 'list',
    }),
  },
  users: { name: 'users', fileName: 'users.csv', columns: cols({ ...usersHead, ...usersTail }) },
  roles: {
    name: 'roles', fileName: 'roles.csv',
    columns: cols({
      'userSourcedId': 'id', 'roleType': { closed: ['primary', 'secondary'] }, 'role': vocabulary(roleValues), 'beginDate?': 'date', 'endDate?': 'date',
      'orgSourcedId': 'id', 'userProfileSourcedId?>userProfile': 'id',
    }),
  },
  userProfiles: {
    name: 'userProfiles', fileName: 'userProfiles.csv',
    columns: cols({
      'userSourcedId': 'id', 'profileType': 'text', 'vendorId': 'text', 'applicationId?': 'text', 'description?': 'text',
      'credentialType': 'text', 'username': 'text', 'password?': 'dropped',
    }),
  },
  enrollments: {
    name: 'enrollments', fileName: 'enrollments.csv',
    columns: cols({ 'classSourcedId': 'id', 'schoolSourcedId': 'id', 'userSourcedId': 'id', 'role': vocabulary(enrollmentRoles), 'primary?': flag, 'beginDate?': 'date', 'endDate?': 'date' }),
  },
  demographics: {
    name: 'demographics', fileName: 'demographics.csv',
    columns: cols({
      'birthDate?': 'date', 'sex?': vocabulary(sexValues), 'americanIndianOrAlaskaNative?': flag, 'asian?': flag, 'blackOrAfricanAmerican?': flag,
      'nativeHawaiianOrOtherPacificIslander?': flag, 'white?': flag, 'demographicRaceTwoOrMoreRaces?': flag, 'hispanicOrLatinoEthnicity?': flag,
      'countryOfBirthCode?': 'text', 'stateOfBirthAbbreviation?': 'text', 'cityOfBirth?': 'text', 'publicSchoolResidenceStatus?': 'text',
    }),
  },
  categories: { name: 'categories', fileName: 'categories.csv', columns: cols({ 'title': 'text', 'weight?': 'number' }) },
  scoreScales: {
    name: 'scoreScales', fileName: 'scoreScales.csv',
    columns: cols({ 'title': 'text', 'type': 'text', 'orgSourcedId?': 'id', 'courseSourcedId?': 'id', 'classSourcedId': 'id', 'scoreScaleValue': 'scoreScaleValue' }),
  },
  lineItems: {
    name: 'lineItems', fileName: 'lineItems.csv',
    columns: cols({
      'title': 'text', 'description?': 'text', 'assignDate': 'datetime', 'dueDate': 'datetime', 'classSourcedId': 'id', 'categorySourcedId': 'id',
      'academicSessionSourcedId?': 'id', 'resultValueMin?': 'number', 'resultValueMax?': 'number', 'schoolSourcedId': 'id',
    }),
  },
  results: {
    name: 'results', fileName: 'results.csv',
    columns: cols({
      'lineItemSourcedId': 'id', 'studentSourcedId': 'id', 'scoreStatus': vocabulary(scoreStatuses), 'score?': 'number', 'scoreDate': 'date',
      'comment?': 'text', 'textScore?': 'text', 'classSourcedId?': 'id', 'inProgress?': flag, 'incomplete?': flag, 'late?': flag, 'missing?': flag,
    }),
  },
  lineItemLearningObjectiveIds: {
    name: 'lineItemLearningObjectiveIds', fileName: 'lineItemLearningObjectiveIds.csv', owner: 'lineItemSourcedId',
    columns: cols({ 'lineItemSourcedId': 'id', 'source': { closed: learningObjectiveSources }, 'learningObjectiveId': 'text' }),
  },
  lineItemScoreScales: {
    name: 'lineItemScoreScales', fileName: 'lineItemScoreScales.csv', owner: 'lineItemSourcedId',
    columns: cols({ 'title?': 'text', 'lineItemSourcedId': 'id', 'scoreScaleSourcedId': 'id' }),
  },
  resultLearningObjectiveIds: {
    name: 'resultLearningObjectiveIds', fileName: 'resultLearningObjectiveIds.csv', owner: 'resultSourcedId',
    columns: cols({ 'resultSourcedId': 'id', 'source': { closed: learningObjectiveSources }, 'learningObjectiveId': 'text', 'score?': 'number', 'textScore?': 'text' }),
  },
  resultScoreScales: {
    name: 'resultScoreScales', fileName: 'resultScoreScales.csv', owner: 'resultSourcedId',
    columns: cols({ 'title?': 'text', 'resultSourcedId': 'id', 'scoreScaleSourcedId': 'id' }),
  },
};

/** users.csv as OneRoster 1.2 shipped it, before the 1.2.1 correction removed resourceSourcedIds. */
export const users12: CsvFile = { ...files.users, columns: cols({ ...usersHead, 'resourceSourcedIds?': 'dropped', ...usersTail }) };

/** users.csv of OneRoster 1.1: one role and its orgs on the user row, no roles.csv. */
export const users11: CsvFile = {
  ...files.users,
  columns: cols({
    'enabledUser': 'boolean', 'orgSourcedIds': 'list', 'role': { closed: roles11 }, 'username': 'text', 'userIds?': 'userIds', 'givenName': 'text',
    'familyName': 'text', 'middleName?': 'text', 'identifier?': 'text', 'email?': 'text', 'sms?': 'text', 'phone?': 'text',
    'agentSourcedIds?': 'list', 'grades?': 'list', 'password?': 'dropped',
  }),
};

export const headerOf = (file: CsvFile) => [...commonColumns, ...file.columns.map((c) => c.name)];

/** Every file the 1.2 manifest may name (reference §3.2); the resources files are not imported yet. */
export const manifestFiles = [
  'academicSessions', 'categories', 'classes', 'classResources', 'courses', 'courseResources', 'demographics', 'enrollments',
  'lineItemLearningObjectiveIds', 'lineItems', 'lineItemScoreScales', 'orgs', 'resources', 'resultLearningObjectiveIds', 'results',
  'resultScoreScales', 'roles', 'scoreScales', 'userProfiles', 'userResources', 'users',
] as const;

/** Files in the order they are read: what a file refers to is read before it (link files before what they are part of). */
export const readOrder: FileName[] = [
  'orgs', 'academicSessions', 'courses', 'classes', 'userProfiles', 'roles', 'users', 'enrollments', 'demographics',
  'categories', 'scoreScales', 'lineItemLearningObjectiveIds', 'lineItemScoreScales', 'lineItems',
  'resultLearningObjectiveIds', 'resultScoreScales', 'results',
];
