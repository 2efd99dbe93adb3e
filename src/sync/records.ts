import { z } from 'zod';

/**
 * Canonical records: what connectors, the CSV reader and API writes hand to the reconcile engine.
 * Field names follow OneRoster 1.2 with references flattened to `…SourcedId(s)`; no wire format
 * lives here (no hrefs, no string booleans, no descriptors).
 */

const id = z.string().min(1).max(255);
const text = z.string().min(1);
const date = z.iso.date();
const list = z.array(z.string().min(1));
/** An open vocabulary: one of the standard's values or an `ext:` extension. */
const extension = /^ext:[a-zA-Z0-9.\-_]+$/;
const vocabulary = <const T extends readonly string[]>(values: T) => {
  const known = new Set<string>(values);
  return z.string().superRefine((value, ctx) => {
    if (!known.has(value) && !extension.test(value)) {
      ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')} or ext:…; got ${JSON.stringify(value)}` });
    }
  }) as unknown as z.ZodType<T[number] | `ext:${string}`, string>;
};

const common = {
  sourcedId: id,
  /** The source system's own key, kept for provenance. */
  nativeKey: z.string().optional(),
  /** The Ed-Fi natural key (identity members, e.g. `{ schoolId: 255901 }`), where one is known. */
  edfiKey: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  /** Ed-Fi attributes with no OneRoster field, kept as sent so the Ed-Fi door can give them back. */
  edfi: z.record(z.string(), z.unknown()).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
};

export const orgTypes = ['department', 'district', 'local', 'national', 'school', 'state'] as const;
export const sessionTypes = ['gradingPeriod', 'semester', 'schoolYear', 'term'] as const;
export const classTypes = ['homeroom', 'scheduled'] as const;
export const roleValues = [
  'aide', 'counselor', 'districtAdministrator', 'guardian', 'parent', 'principal', 'proctor',
  'relative', 'siteAdministrator', 'student', 'systemAdministrator', 'teacher',
] as const;
export const enrollmentRoles = ['administrator', 'proctor', 'student', 'teacher'] as const;
export const sexValues = ['male', 'female', 'unspecified', 'other'] as const;

export const orgRecord = z.strictObject({
  ...common,
  name: text,
  type: vocabulary(orgTypes),
  identifier: z.string().optional(),
  parentSourcedId: id.optional(),
});

export const academicSessionRecord = z.strictObject({
  ...common,
  title: text,
  type: vocabulary(sessionTypes),
  startDate: date,
  endDate: date,
  parentSourcedId: id.optional(),
  schoolYear: z.string().regex(/^\d{4}$/, 'must be a four-digit year'),
});

export const courseRecord = z.strictObject({
  ...common,
  title: text,
  courseCode: z.string().optional(),
  schoolYearSourcedId: id.optional(),
  grades: list.optional(),
  subjects: list.optional(),
  subjectCodes: list.optional(),
  orgSourcedId: id.optional(),
});

export const classRecord = z.strictObject({
  ...common,
  title: text,
  classCode: z.string().optional(),
  classType: vocabulary(classTypes).optional(),
  location: z.string().optional(),
  courseSourcedId: id,
  schoolSourcedId: id,
  termSourcedIds: z.array(id).min(1),
  grades: list.optional(),
  subjects: list.optional(),
  subjectCodes: list.optional(),
  periods: list.optional(),
});

export const roleRecord = z.strictObject({
  /** The role's own id, where the source has one (roles.csv). */
  sourcedId: id.optional(),
  roleType: z.enum(['primary', 'secondary']),
  role: vocabulary(roleValues),
  orgSourcedId: id,
  userProfile: z.string().optional(),
  beginDate: date.optional(),
  endDate: date.optional(),
  /** Ed-Fi attributes of the association behind the role. */
  edfi: z.record(z.string(), z.unknown()).optional(),
});

export const userProfileRecord = z.strictObject({
  profileId: text,
  profileType: text,
  vendorId: text,
  applicationId: z.string().optional(),
  description: z.string().optional(),
  credentials: z.array(z.strictObject({ type: text, username: text })).optional(),
});

export const userRecord = z.strictObject({
  ...common,
  enabledUser: z.boolean(),
  username: z.string().optional(),
  userIds: z.array(z.strictObject({ type: text, identifier: text })).optional(),
  givenName: z.string(),
  familyName: z.string(),
  middleName: z.string().optional(),
  preferredFirstName: z.string().optional(),
  preferredMiddleName: z.string().optional(),
  preferredLastName: z.string().optional(),
  pronouns: z.string().optional(),
  identifier: z.string().optional(),
  email: z.string().optional(),
  sms: z.string().optional(),
  phone: z.string().optional(),
  agentSourcedIds: z.array(id).optional(),
  grades: list.optional(),
  userMasterIdentifier: z.string().optional(),
  primaryOrgSourcedId: id.optional(),
  roles: z.array(roleRecord).min(1),
  userProfiles: z.array(userProfileRecord).optional(),
});

export const enrollmentRecord = z.strictObject({
  ...common,
  classSourcedId: id,
  schoolSourcedId: id,
  userSourcedId: id,
  role: vocabulary(enrollmentRoles),
  primary: z.boolean().optional(),
  beginDate: date.optional(),
  endDate: date.optional(),
});

const flag = z.boolean().optional();
export const demographicsRecord = z.strictObject({
  ...common,
  birthDate: date.optional(),
  sex: vocabulary(sexValues).optional(),
  americanIndianOrAlaskaNative: flag,
  asian: flag,
  blackOrAfricanAmerican: flag,
  nativeHawaiianOrOtherPacificIslander: flag,
  white: flag,
  demographicRaceTwoOrMoreRaces: flag,
  hispanicOrLatinoEthnicity: flag,
  countryOfBirthCode: z.string().optional(),
  stateOfBirthAbbreviation: z.string().optional(),
  cityOfBirth: z.string().optional(),
  publicSchoolResidenceStatus: z.string().optional(),
});

/** An instant (assignDate, dueDate) stored as UTC with milliseconds, however the source wrote it. */
const instant = z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString());
const score = z.number().finite();

export const scoreStatuses = ['exempt', 'fully graded', 'not submitted', 'partially graded', 'submitted'] as const;
export const learningObjectiveSources = ['case', 'unknown'] as const;
const learningObjectiveSource = z.enum(learningObjectiveSources);

export const categoryRecord = z.strictObject({
  ...common,
  title: text,
  weight: score.optional(),
});

export const scoreScaleRecord = z.strictObject({
  ...common,
  title: text,
  type: text,
  orgSourcedId: id.optional(),
  courseSourcedId: id.optional(),
  classSourcedId: id,
  scoreScaleValue: z.array(z.strictObject({ itemValueLHS: z.string(), itemValueRHS: z.string() })).min(1),
});

export const lineItemRecord = z.strictObject({
  ...common,
  title: text,
  description: z.string().optional(),
  assignDate: instant,
  dueDate: instant,
  classSourcedId: id,
  schoolSourcedId: id,
  categorySourcedId: id,
  gradingPeriodSourcedId: id.optional(),
  academicSessionSourcedId: id.optional(),
  scoreScaleSourcedId: id.optional(),
  resultValueMin: score.optional(),
  resultValueMax: score.optional(),
  learningObjectiveSet: z.array(z.strictObject({ source: learningObjectiveSource, learningObjectiveIds: z.array(text) })).optional(),
});

const flagged = z.boolean().optional();
export const resultRecord = z.strictObject({
  ...common,
  lineItemSourcedId: id,
  studentSourcedId: id,
  classSourcedId: id.optional(),
  scoreScaleSourcedId: id.optional(),
  scoreStatus: vocabulary(scoreStatuses),
  score: score.optional(),
  textScore: z.string().optional(),
  scoreDate: date,
  comment: z.string().optional(),
  learningObjectiveSet: z.array(z.strictObject({
    source: learningObjectiveSource,
    learningObjectiveResults: z.array(z.strictObject({ learningObjectiveId: text, score: score.optional(), textScore: z.string().optional() })),
  })).optional(),
  inProgress: flagged,
  incomplete: flagged,
  late: flagged,
  missing: flagged,
});

/** A delta tombstone: only the id is needed. */
export const tombstoneRecord = z.object({ sourcedId: id, status: z.literal('tobedeleted') });

export type OrgRecord = z.input<typeof orgRecord>;
export type AcademicSessionRecord = z.input<typeof academicSessionRecord>;
export type CourseRecord = z.input<typeof courseRecord>;
export type ClassRecord = z.input<typeof classRecord>;
export type UserRecord = z.input<typeof userRecord>;
export type RoleRecord = z.input<typeof roleRecord>;
export type EnrollmentRecord = z.input<typeof enrollmentRecord>;
export type DemographicsRecord = z.input<typeof demographicsRecord>;
export type TombstoneRecord = z.input<typeof tombstoneRecord>;
export type CategoryRecord = z.input<typeof categoryRecord>;
export type ScoreScaleRecord = z.input<typeof scoreScaleRecord>;
export type LineItemRecord = z.input<typeof lineItemRecord>;
export type ResultRecord = z.input<typeof resultRecord>;

export interface RecordsByEntity {
  org: OrgRecord;
  academicSession: AcademicSessionRecord;
  course: CourseRecord;
  class: ClassRecord;
  user: UserRecord;
  enrollment: EnrollmentRecord;
  demographics: DemographicsRecord;
  category: CategoryRecord;
  scoreScale: ScoreScaleRecord;
  lineItem: LineItemRecord;
  result: ResultRecord;
}

export type EntityName = keyof RecordsByEntity;

/** A problem a source found while reading, reported with the run's own issues. */
export interface SourceIssue {
  entity: string;
  sourcedId: string | null;
  field: string | null;
  severity: 'error' | 'warning';
  code: string;
  message: string;
  /** Where it was found, for file sources (a CSV package's file and line). */
  file?: string | null;
  line?: number | null;
}

/**
 * One streamed batch: records of one entity, in any order within the batch. File sources say
 * where each record came from (`file`, and `lines` parallel to `records`) so issues can point
 * there, and report what they could not turn into records as `issues`.
 */
export type RecordBatch = {
  [E in EntityName]: {
    entity: E;
    records: (RecordsByEntity[E] | TombstoneRecord)[];
    file?: string;
    lines?: readonly (number | null)[];
    issues?: readonly SourceIssue[];
    /** Records the source read but found invalid (and reported in `issues`), by id. */
    invalid?: readonly { sourcedId: string; line: number | null }[];
  };
}[EntityName];
