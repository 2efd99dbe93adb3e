/**
 * A small Ed-Fi district (DS 5.x bodies) in dependency order, for loading a gateway through its Ed-Fi
 * door: an LEA, schools, sessions, a grading period, courses, offerings and sections; students with
 * school and education organization associations (races), contacts, staff with assignments and
 * sections, and student section associations. Deterministic: the same options give the same bodies.
 */

const d = (name: string, code: string) => `uri://ed-fi.org/${name}#${code}`;
export const LEA_ID = 255901;

export interface EdfiDistrictOptions { schools: number; studentsPerSchool: number; sectionsPerSchool: number }

export function edfiDistrict({ schools, studentsPerSchool, sectionsPerSchool }: EdfiDistrictOptions): [resource: string, body: Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [];
  out.push(['localEducationAgencies', {
    localEducationAgencyId: LEA_ID, nameOfInstitution: 'Grand Bend ISD', localEducationAgencyCategoryDescriptor: d('LocalEducationAgencyCategoryDescriptor', 'Regular public school district'),
    categories: [{ educationOrganizationCategoryDescriptor: d('EducationOrganizationCategoryDescriptor', 'Local Education Agency') }],
  }]);
  const schoolIds = Array.from({ length: schools }, (_, i) => LEA_ID * 1000 + i + 1);
  for (const schoolId of schoolIds) {
    out.push(['schools', {
      schoolId, nameOfInstitution: `School ${schoolId}`, localEducationAgencyReference: { localEducationAgencyId: LEA_ID },
      educationOrganizationCategories: [{ educationOrganizationCategoryDescriptor: d('EducationOrganizationCategoryDescriptor', 'School') }],
      gradeLevels: [{ gradeLevelDescriptor: d('GradeLevelDescriptor', 'Ninth grade') }],
    }]);
  }
  const courses = ['ALG-1', 'BIO-1', 'ENG-9'];
  for (const courseCode of courses) {
    out.push(['courses', {
      courseCode, courseTitle: `Course ${courseCode}`, numberOfParts: 1, educationOrganizationReference: { educationOrganizationId: LEA_ID },
      identificationCodes: [{ courseIdentificationSystemDescriptor: d('CourseIdentificationSystemDescriptor', 'LEA course code'), identificationCode: courseCode }],
    }]);
  }
  const sections: Record<string, unknown>[] = [];
  for (const schoolId of schoolIds) {
    const sessionName = '2024-2025 Fall Semester';
    out.push(['sessions', {
      schoolReference: { schoolId }, schoolYearTypeReference: { schoolYear: 2025 }, sessionName, beginDate: '2024-08-19', endDate: '2024-12-20',
      termDescriptor: d('TermDescriptor', 'Fall Semester'), totalInstructionalDays: 80,
    }]);
    out.push(['gradingPeriods', {
      gradingPeriodDescriptor: d('GradingPeriodDescriptor', 'First Nine Weeks'), gradingPeriodName: 'Q1', schoolReference: { schoolId },
      schoolYearTypeReference: { schoolYear: 2025 }, beginDate: '2024-08-19', endDate: '2024-10-18', totalInstructionalDays: 44, periodSequence: 1,
    }]);
    for (const courseCode of courses) {
      out.push(['courseOfferings', {
        localCourseCode: courseCode, courseReference: { courseCode, educationOrganizationId: LEA_ID }, schoolReference: { schoolId },
        sessionReference: { schoolId, schoolYear: 2025, sessionName }, localCourseTitle: `Course ${courseCode}`,
      }]);
    }
    for (let s = 0; s < sectionsPerSchool; s++) {
      const localCourseCode = courses[s % courses.length]!;
      const key = { localCourseCode, schoolId, schoolYear: 2025, sectionIdentifier: `${localCourseCode}-${String(s + 1).padStart(2, '0')}`, sessionName };
      sections.push(key);
      out.push(['sections', {
        sectionIdentifier: key.sectionIdentifier, sectionName: `${localCourseCode} period ${s + 1}`,
        courseOfferingReference: { localCourseCode, schoolId, schoolYear: 2025, sessionName },
      }]);
    }
  }
  const students: string[] = [];
  const staff: string[] = [];
  schoolIds.forEach((schoolId, si) => {
    for (let i = 0; i < studentsPerSchool; i++) {
      const uid = `S${si + 1}${String(i + 1).padStart(4, '0')}`;
      students.push(uid);
      out.push(['students', {
        studentUniqueId: uid, firstName: `First${i}`, lastSurname: `Last${si}-${i}`, birthDate: '2010-05-01',
        birthSexDescriptor: d('SexDescriptor', i % 2 ? 'Male' : 'Female'), ...(i % 3 ? {} : { middleName: 'M' }),
      }]);
    }
    for (let t = 0; t < 2; t++) {
      const uid = `T${si + 1}${t + 1}`;
      staff.push(uid);
      out.push(['staffs', {
        staffUniqueId: uid, firstName: `Teacher${t}`, lastSurname: `Staff${si}`, loginId: `t${si}${t}`,
        electronicMails: [{ electronicMailAddress: `t${si}${t}@gbisd.example`, electronicMailTypeDescriptor: d('ElectronicMailTypeDescriptor', 'Work') }],
      }]);
    }
  });
  for (const [i, uid] of students.entries()) {
    if (i % 5 === 0) {
      out.push(['contacts', { contactUniqueId: `C${uid}`, firstName: 'Parent', lastSurname: `Of ${uid}` }]);
    }
  }
  schoolIds.forEach((schoolId, si) => {
    for (let i = 0; i < studentsPerSchool; i++) {
      const uid = students[si * studentsPerSchool + i]!;
      out.push(['studentSchoolAssociations', {
        schoolReference: { schoolId }, studentReference: { studentUniqueId: uid }, entryDate: '2024-08-19', entryGradeLevelDescriptor: d('GradeLevelDescriptor', 'Ninth grade'),
      }]);
      out.push(['studentEducationOrganizationAssociations', {
        educationOrganizationReference: { educationOrganizationId: LEA_ID }, studentReference: { studentUniqueId: uid },
        sexDescriptor: d('SexDescriptor', i % 2 ? 'Male' : 'Female'), hispanicLatinoEthnicity: i % 4 === 0,
        races: [{ raceDescriptor: d('RaceDescriptor', i % 3 ? 'White' : 'Asian') }],
      }]);
    }
    for (let t = 0; t < 2; t++) {
      out.push(['staffEducationOrganizationAssignmentAssociations', {
        beginDate: '2024-08-01', educationOrganizationReference: { educationOrganizationId: schoolId }, staffReference: { staffUniqueId: staff[si * 2 + t]! },
        staffClassificationDescriptor: d('StaffClassificationDescriptor', 'Secondary Teacher'), positionTitle: 'Teacher',
      }]);
    }
  });
  for (const [i, uid] of students.entries()) {
    if (i % 5 === 0) {
      out.push(['studentContactAssociations', {
        contactReference: { contactUniqueId: `C${uid}` }, studentReference: { studentUniqueId: uid }, relationDescriptor: d('RelationDescriptor', 'Mother'), livesWith: true,
      }]);
    }
  }
  schoolIds.forEach((schoolId, si) => {
    const own = sections.filter((s) => s.schoolId === schoolId);
    own.forEach((sectionReference, s) => {
      out.push(['staffSectionAssociations', {
        beginDate: '2024-08-19', sectionReference, staffReference: { staffUniqueId: staff[si * 2 + (s % 2)]! },
        classroomPositionDescriptor: d('ClassroomPositionDescriptor', 'Teacher of Record'),
      }]);
    });
    for (let i = 0; i < studentsPerSchool; i++) {
      const uid = students[si * studentsPerSchool + i]!;
      for (const k of [i % own.length, (i + 1) % own.length]) {
        out.push(['studentSectionAssociations', { beginDate: '2024-08-19', sectionReference: own[k], studentReference: { studentUniqueId: uid }, homeroomIndicator: false }]);
      }
    }
  });
  return out;
}
