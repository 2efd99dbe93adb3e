import type {
  AcademicSessionRecord,
  ClassRecord,
  CourseRecord,
  DemographicsRecord,
  EnrollmentRecord,
  OrgRecord,
  RecordBatch,
  UserRecord,
} from '../src/sync/records.ts';

/**
 * A deterministic synthetic district: the same seed and scale always give the same records, in
 * dependency order, yielded lazily in batches so any scale streams in bounded memory.
 */

export const scales = {
  small: { schools: 2, coursesPerSchool: 10, classesPerSchool: 20, students: 950, teachers: 50, classesPerStudent: 6 },
  district: { schools: 50, coursesPerSchool: 40, classesPerSchool: 100, students: 47_500, teachers: 2_500, classesPerStudent: 10 },
  large: { schools: 200, coursesPerSchool: 40, classesPerSchool: 100, students: 190_000, teachers: 10_000, classesPerStudent: 10 },
} as const;

export type Scale = keyof typeof scales;

/** mulberry32: small, fast and good enough for synthetic data. */
export function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const givenNames = ['Ava', 'Ben', 'Chloe', 'Diego', 'Emma', 'Farah', 'Gus', 'Hana', 'Ivan', 'Jia', 'Kofi', 'Lena', 'Mateo', 'Nia', 'Omar', 'Priya'];
const familyNames = ['Nguyen', 'Smith', 'Garcia', 'Okafor', 'Kim', 'Novak', 'Haddad', 'Silva', 'Jensen', 'Rossi', 'Tanaka', 'Walsh'];
const subjects = [['Mathematics', 'MATH'], ['English', 'ENG'], ['Science', 'SCI'], ['History', 'HIST'], ['Art', 'ART']] as const;
const grades = ['09', '10', '11', '12'];

export interface GenerateOptions {
  scale: Scale;
  seed?: number;
  batchSize?: number;
}

export function* generateDistrict({ scale, seed = 42, batchSize = 5000 }: GenerateOptions): Generator<RecordBatch> {
  const s = scales[scale];
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const school = (i: number) => `sch-${String(i).padStart(4, '0')}`;
  const pad = (n: number, w = 7) => String(n).padStart(w, '0');

  function* chunked<E extends RecordBatch['entity']>(entity: E, items: Iterable<unknown>): Generator<RecordBatch> {
    let records: unknown[] = [];
    for (const item of items) {
      records.push(item);
      if (records.length === batchSize) {
        yield { entity, records } as RecordBatch;
        records = [];
      }
    }
    if (records.length) yield { entity, records } as RecordBatch;
  }

  yield* chunked('org', (function* (): Generator<OrgRecord> {
    yield { sourcedId: 'district-1', name: 'Synthetic Unified School District', type: 'district', identifier: '0600001' };
    for (let i = 0; i < s.schools; i++) {
      yield { sourcedId: school(i), name: `School ${i}`, type: 'school', identifier: String(100000 + i), parentSourcedId: 'district-1' };
    }
  })());

  yield* chunked('academicSession', (function* (): Generator<AcademicSessionRecord> {
    yield { sourcedId: 'sy-2025', title: '2024-2025', type: 'schoolYear', startDate: '2024-08-19', endDate: '2025-06-13', schoolYear: '2025' };
    yield { sourcedId: 'sem-1', title: 'Fall 2024', type: 'semester', startDate: '2024-08-19', endDate: '2025-01-17', schoolYear: '2025', parentSourcedId: 'sy-2025' };
    yield { sourcedId: 'sem-2', title: 'Spring 2025', type: 'semester', startDate: '2025-01-21', endDate: '2025-06-13', schoolYear: '2025', parentSourcedId: 'sy-2025' };
    for (let q = 1; q <= 4; q++) {
      yield { sourcedId: `gp-${q}`, title: `Quarter ${q}`, type: 'gradingPeriod', startDate: '2024-08-19', endDate: '2025-06-13', schoolYear: '2025', parentSourcedId: q <= 2 ? 'sem-1' : 'sem-2' };
    }
  })());

  const course = (sch: number, c: number) => `crs-${pad(sch, 4)}-${pad(c, 3)}`;
  yield* chunked('course', (function* (): Generator<CourseRecord> {
    for (let i = 0; i < s.schools; i++) {
      for (let c = 0; c < s.coursesPerSchool; c++) {
        const [subject, code] = subjects[c % subjects.length]!;
        yield {
          sourcedId: course(i, c), title: `${subject} ${c}`, courseCode: `${code}${c}`, orgSourcedId: school(i),
          schoolYearSourcedId: 'sy-2025', grades: [grades[c % grades.length]!], subjects: [subject], subjectCodes: [code],
        };
      }
    }
  })());

  const cls = (sch: number, c: number) => `cls-${pad(sch, 4)}-${pad(c, 4)}`;
  yield* chunked('class', (function* (): Generator<ClassRecord> {
    for (let i = 0; i < s.schools; i++) {
      for (let c = 0; c < s.classesPerSchool; c++) {
        yield {
          sourcedId: cls(i, c), title: `Section ${c}`, classCode: `S${c}`, classType: 'scheduled', location: `Room ${100 + (c % 40)}`,
          courseSourcedId: course(i, c % s.coursesPerSchool), schoolSourcedId: school(i), termSourcedIds: [c % 2 ? 'sem-2' : 'sem-1'],
          periods: [String(1 + (c % 7))],
        };
      }
    }
  })());

  const studentsPerSchool = Math.ceil(s.students / s.schools);
  const teachersPerSchool = Math.ceil(s.teachers / s.schools);
  const student = (n: number) => `stu-${pad(n)}`;
  const teacher = (n: number) => `tch-${pad(n)}`;
  const schoolOfStudent = (n: number) => Math.floor(n / studentsPerSchool);
  const schoolOfTeacher = (n: number) => Math.floor(n / teachersPerSchool);

  yield* chunked('user', (function* (): Generator<UserRecord> {
    for (let n = 0; n < s.teachers; n++) {
      const given = pick(givenNames), family = pick(familyNames);
      yield {
        sourcedId: teacher(n), enabledUser: true, givenName: given, familyName: family, username: `t${n}`,
        email: `t${n}@synthetic.example`, identifier: `T${n}`, userIds: [{ type: 'SIS', identifier: `T${n}` }],
        roles: [{ roleType: 'primary', role: 'teacher', orgSourcedId: school(schoolOfTeacher(n)) }],
        primaryOrgSourcedId: school(schoolOfTeacher(n)),
      };
    }
    for (let n = 0; n < s.students; n++) {
      const given = pick(givenNames), family = pick(familyNames);
      yield {
        sourcedId: student(n), enabledUser: true, givenName: given, familyName: family, username: `s${n}`,
        email: `s${n}@students.synthetic.example`, identifier: `S${n}`, grades: [pick(grades)],
        userIds: [{ type: 'SIS', identifier: `S${n}` }],
        roles: [{ roleType: 'primary', role: 'student', orgSourcedId: school(schoolOfStudent(n)), beginDate: '2024-08-19' }],
        primaryOrgSourcedId: school(schoolOfStudent(n)),
      };
    }
  })());

  yield* chunked('enrollment', (function* (): Generator<EnrollmentRecord> {
    for (let i = 0; i < s.schools; i++) {
      for (let c = 0; c < s.classesPerSchool; c++) {
        const t = Math.min(i * teachersPerSchool + (c % teachersPerSchool), s.teachers - 1);
        yield { sourcedId: `enr-t-${cls(i, c)}`, classSourcedId: cls(i, c), schoolSourcedId: school(schoolOfTeacher(t)), userSourcedId: teacher(t), role: 'teacher', primary: true };
      }
    }
    for (let n = 0; n < s.students; n++) {
      const i = schoolOfStudent(n);
      const first = Math.floor(rnd() * s.classesPerSchool);
      for (let k = 0; k < s.classesPerStudent; k++) {
        const c = (first + k * 7) % s.classesPerSchool;
        yield { sourcedId: `enr-${student(n)}-${k}`, classSourcedId: cls(i, c), schoolSourcedId: school(i), userSourcedId: student(n), role: 'student', beginDate: '2024-08-19' };
      }
    }
  })());

  yield* chunked('demographics', (function* (): Generator<DemographicsRecord> {
    for (let n = 0; n < s.students; n++) {
      const year = 2007 + Math.floor(rnd() * 5);
      yield { sourcedId: student(n), birthDate: `${year}-0${1 + Math.floor(rnd() * 9)}-1${Math.floor(rnd() * 9)}`, sex: rnd() < 0.5 ? 'female' : 'male', hispanicOrLatinoEthnicity: rnd() < 0.3 };
    }
  })());
}
