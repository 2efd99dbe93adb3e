import type { RecordBatch } from '../../src/sync/records.ts';
import type { ReconcileOptions } from '../../src/sync/reconcile.ts';

/** A tiny, readable district: one district, two schools, a year and a term, two classes. */
export function smallDistrict(): RecordBatch[] {
  return [
    {
      entity: 'org',
      records: [
        { sourcedId: 'd1', name: 'Springfield District', type: 'district', identifier: 'NCES-1', edfiKey: { localEducationAgencyId: 255901 } },
        { sourcedId: 's1', name: 'Springfield High', type: 'school', identifier: '101', parentSourcedId: 'd1' },
        { sourcedId: 's2', name: 'Shelbyville High', type: 'school', identifier: '102', parentSourcedId: 'd1' },
      ],
    },
    {
      entity: 'academicSession',
      records: [
        { sourcedId: 'y2025', title: '2024-2025', type: 'schoolYear', startDate: '2024-08-15', endDate: '2025-06-15', schoolYear: '2025' },
        { sourcedId: 't1', title: 'Fall', type: 'term', startDate: '2024-08-15', endDate: '2024-12-20', schoolYear: '2025', parentSourcedId: 'y2025' },
      ],
    },
    {
      entity: 'course',
      records: [{ sourcedId: 'c-math', title: 'Algebra I', courseCode: 'MATH1', orgSourcedId: 'd1', grades: ['09'], schoolYearSourcedId: 'y2025' }],
    },
    {
      entity: 'class',
      records: [
        { sourcedId: 'cl1', title: 'Algebra I - P1', courseSourcedId: 'c-math', schoolSourcedId: 's1', termSourcedIds: ['t1'], periods: ['1'], classType: 'scheduled' },
        { sourcedId: 'cl2', title: 'Algebra I - P2', courseSourcedId: 'c-math', schoolSourcedId: 's2', termSourcedIds: ['t1'], periods: ['2'], classType: 'scheduled' },
      ],
    },
    {
      entity: 'user',
      records: [
        {
          sourcedId: 'u-teach', enabledUser: true, givenName: 'Edna', familyName: 'Krabappel', username: 'ekrabappel',
          email: 'edna@example.org', roles: [{ roleType: 'primary', role: 'teacher', orgSourcedId: 's1' }],
        },
        {
          sourcedId: 'u-bart', enabledUser: true, givenName: 'Bart', familyName: 'Simpson', username: 'bsimpson', grades: ['09'],
          userIds: [{ type: 'SIS', identifier: '1001' }],
          roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1', beginDate: '2024-08-15' }],
        },
        {
          sourcedId: 'u-lisa', enabledUser: true, givenName: 'Lisa', familyName: 'Simpson', username: 'lsimpson', grades: ['09'],
          roles: [{ roleType: 'primary', role: 'student', orgSourcedId: 's1' }],
        },
      ],
    },
    {
      entity: 'enrollment',
      records: [
        { sourcedId: 'e1', classSourcedId: 'cl1', schoolSourcedId: 's1', userSourcedId: 'u-teach', role: 'teacher', primary: true },
        { sourcedId: 'e2', classSourcedId: 'cl1', schoolSourcedId: 's1', userSourcedId: 'u-bart', role: 'student' },
        { sourcedId: 'e3', classSourcedId: 'cl1', schoolSourcedId: 's1', userSourcedId: 'u-lisa', role: 'student' },
      ],
    },
    { entity: 'demographics', records: [{ sourcedId: 'u-bart', birthDate: '2010-04-01', sex: 'male', white: true }] },
  ];
}

export const defaults = { holdShare: 0.5, batchSize: 1000 } satisfies Partial<ReconcileOptions>;

/** Deep copy with one entity's records changed. */
export function withRecords<E extends RecordBatch['entity']>(
  batches: RecordBatch[],
  entity: E,
  change: (records: Extract<RecordBatch, { entity: E }>['records']) => Extract<RecordBatch, { entity: E }>['records'],
): RecordBatch[] {
  return structuredClone(batches).map((b) => (b.entity === entity ? ({ ...b, records: change(b.records as never) } as RecordBatch) : b));
}
