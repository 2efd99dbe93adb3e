/**
 * Ed-Fi descriptors the gateway seeds (code values of the Ed-Fi Data Standard 5.x descriptor
 * lists, namespace `uri://ed-fi.org/<Name>`), and the crosswalk from the ones that carry meaning
 * in OneRoster to OneRoster vocabulary. Sites add their own values by POSTing descriptors; values
 * the crosswalk does not know fall back as documented in docs/mapping.md.
 */

export const seededDescriptors: Record<string, string[]> = {
  GradeLevelDescriptor: [
    'Infant/toddler', 'Preschool', 'Prekindergarten', 'Transitional Kindergarten', 'Kindergarten', 'First grade', 'Second grade',
    'Third grade', 'Fourth grade', 'Fifth grade', 'Sixth grade', 'Seventh grade', 'Eighth grade', 'Ninth grade', 'Tenth grade',
    'Eleventh grade', 'Twelfth grade', 'Grade 13', 'Postsecondary', 'Ungraded', 'Other', 'Out of School',
  ],
  TermDescriptor: [
    'Semester', 'Fall Semester', 'Spring Semester', 'Summer Semester', 'Quarter', 'First Quarter', 'Second Quarter', 'Third Quarter',
    'Fourth Quarter', 'Trimester', 'First Trimester', 'Second Trimester', 'Third Trimester', 'MiniTerm', 'Year Round', 'Other',
  ],
  SexDescriptor: ['Female', 'Male', 'Non-binary', 'Not Selected'],
  RaceDescriptor: [
    'American Indian - Alaska Native', 'Asian', 'Black - African American', 'Choose Not to Respond', 'Native Hawaiian - Pacific Islander', 'Other', 'White',
  ],
  ClassroomPositionDescriptor: ['Assistant Teacher', 'Substitute Teacher', 'Support Teacher', 'Teacher of Record'],
  StaffClassificationDescriptor: [
    'Pre-Kindergarten Teacher', 'Kindergarten Teacher', 'Elementary Teacher', 'Secondary Teacher', 'Ungraded Teacher',
    'Paraprofessional/Instructional Aide', 'Elementary School Counselor', 'Secondary School Counselor', 'School Counselor',
    'Librarian/Media Specialist', 'Library/Media Support Staff', 'LEA Administrator', 'LEA Administrative Support Staff',
    'School Administrator', 'School Administrative Support Staff', 'School Psychologist',
    'Student Support Services Staff (w/o Psychology)', 'All Other Support Staff', 'Instr Coordinator and Supervisor to the Staff', 'Missing',
  ],
  EducationOrganizationCategoryDescriptor: [
    'Education Organization Network', 'Education Service Center', 'Local Education Agency', 'Other', 'School', 'State Education Agency',
    'Post Secondary Institution', 'Organization Department',
  ],
  LocalEducationAgencyCategoryDescriptor: [
    'Federal operated agency', 'Independent charter district', 'Other local education agency', 'Public school district part of a supervisory union',
    'Regular public school district', 'Service agency', 'Specialized public school district', 'State operated agency', 'Supervisory union',
  ],
  CourseIdentificationSystemDescriptor: [
    'CSSC course code', 'Intermediate agency course code', 'LEA course code', 'NCES Pilot SNCCS course code', 'Other', 'SCED course code',
    'School course code', 'State course code', 'University course code',
  ],
  ElectronicMailTypeDescriptor: ['Home/Personal', 'Organization', 'Other', 'Work'],
  GradingPeriodDescriptor: [
    'First Semester', 'Second Semester', 'Summer Semester', 'First Summer Session', 'Second Summer Session', 'Third Summer Session',
    'First Trimester', 'Second Trimester', 'Third Trimester', 'First Nine Weeks', 'Second Nine Weeks', 'Third Nine Weeks', 'Fourth Nine Weeks',
    'First Six Weeks', 'Second Six Weeks', 'Third Six Weeks', 'Fourth Six Weeks', 'Fifth Six Weeks', 'Sixth Six Weeks', 'End of Year',
  ],
  RelationDescriptor: [
    'Aunt', 'Brother', 'BrotherInLaw', 'CourtAppointedGuardian', 'Cousin', 'Daughter', 'DaughterInLaw', 'Employer', 'Father', 'Father, step',
    'FatherInLaw', 'FathersCivilPartner', 'FathersSignificantOther', 'Fiance', 'Fiancee', 'Foster parent', 'Friend', 'Godparent', 'Grandfather',
    'Grandmother', 'Grandparent', 'Great aunt', 'Great Grandparent', 'Great uncle', 'Husband', 'Mother', 'Mother, step', 'MotherInLaw',
    'MothersCivilPartner', 'MothersSignificantOther', 'Neighbor', 'Nephew', 'Niece', 'Other', 'Parent', 'Parent, step', 'Relative', 'Sibling',
    'SignificantOther', 'Sister', 'SisterInLaw', 'Son', 'SonInLaw', 'Spouse', 'Uncle', 'Unknown', 'Ward', 'Wife',
  ],
};

/** `uri://ed-fi.org/TermDescriptor#Fall Semester` → `Fall Semester` (null when it is not a descriptor URI). */
export const codeValue = (uri: unknown): string | null => (typeof uri === 'string' && uri.includes('#') ? uri.slice(uri.indexOf('#') + 1) : null);

/** TermDescriptor → OneRoster academicSession type (the edfi-oneroster crosswalk). */
export function sessionType(termDescriptor: string): 'semester' | 'term' | 'gradingPeriod' | 'schoolYear' {
  const code = codeValue(termDescriptor) ?? '';
  if (/semester/i.test(code)) return 'semester';
  if (/trimester/i.test(code)) return 'gradingPeriod';
  if (/year round/i.test(code)) return 'schoolYear';
  return 'term';
}

/** OneRoster academicSession type → a TermDescriptor, for sessions that did not come through Ed-Fi. */
export const termOfType: Record<string, string> = {
  semester: 'Semester', term: 'Other', gradingPeriod: 'Trimester', schoolYear: 'Year Round',
};

/** GradeLevelDescriptor code → CEDS grade (OneRoster `grades`), both ways. */
export const gradeCodes: Record<string, string> = {
  'Infant/toddler': 'IT', Preschool: 'PR', Prekindergarten: 'PK', 'Transitional Kindergarten': 'TK', Kindergarten: 'KG',
  'First grade': '01', 'Second grade': '02', 'Third grade': '03', 'Fourth grade': '04', 'Fifth grade': '05', 'Sixth grade': '06',
  'Seventh grade': '07', 'Eighth grade': '08', 'Ninth grade': '09', 'Tenth grade': '10', 'Eleventh grade': '11', 'Twelfth grade': '12',
  'Grade 13': '13', Postsecondary: 'PS', Ungraded: 'UG', Other: 'Other',
};

/** StaffClassificationDescriptor → OneRoster role (unmapped classifications: teacher, as edfi-oneroster defaults). */
export function staffRole(classification: string): 'teacher' | 'aide' | 'counselor' | 'districtAdministrator' | 'siteAdministrator' {
  const code = codeValue(classification) ?? '';
  if (/aide/i.test(code)) return 'aide';
  if (/counselor/i.test(code)) return 'counselor';
  if (/^LEA Administra/i.test(code)) return 'districtAdministrator';
  if (/^School Administra/i.test(code)) return 'siteAdministrator';
  return 'teacher';
}

/** RelationDescriptor → the OneRoster role of a student's contact. */
export function contactRole(relation: string | undefined): 'parent' | 'guardian' | 'relative' {
  const code = codeValue(relation) ?? '';
  if (/^(Father|Mother|Parent|Foster parent)/.test(code)) return 'parent';
  if (/Guardian|Ward/.test(code)) return 'guardian';
  return 'relative';
}

/** OneRoster role → a StaffClassificationDescriptor, for staff roles that did not come through Ed-Fi. */
export const classificationOfRole: Record<string, string> = {
  teacher: 'Ungraded Teacher', aide: 'Paraprofessional/Instructional Aide', counselor: 'School Counselor',
  districtAdministrator: 'LEA Administrator', siteAdministrator: 'School Administrator', principal: 'School Administrator',
  administrator: 'School Administrator', systemAdministrator: 'LEA Administrative Support Staff', proctor: 'All Other Support Staff',
};

/** OneRoster race flags ↔ RaceDescriptor code values. */
export const raceFlags: Record<string, string> = {
  americanIndianOrAlaskaNative: 'American Indian - Alaska Native', asian: 'Asian', blackOrAfricanAmerican: 'Black - African American',
  nativeHawaiianOrOtherPacificIslander: 'Native Hawaiian - Pacific Islander', white: 'White',
};

/** OneRoster sex → SexDescriptor code value. */
export const sexCodes: Record<string, string> = { female: 'Female', male: 'Male', other: 'Non-binary', unspecified: 'Not Selected' };

/** SexDescriptor → OneRoster demographics sex. */
export function sexOf(descriptor: string | undefined): 'male' | 'female' | 'other' | 'unspecified' | undefined {
  const code = codeValue(descriptor);
  if (!code) return undefined;
  return ({ Female: 'female', Male: 'male', 'Non-binary': 'other', 'Not Selected': 'unspecified' } as const)[code] ?? 'other';
}
