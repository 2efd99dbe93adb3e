import { describe, expect, test } from 'vitest';
import { checkHeader } from '../../standards/oneroster/csv/rows.ts';
import { files, headerOf } from '../../standards/oneroster/csv/files.ts';
import { csvLine } from '../../src/text/csv.ts';
import { CellError, parseDate, parseDateTime, parseList, parseUserIds, parseVocabulary } from '../../standards/oneroster/csv/values.ts';

describe('CSV value formats', () => {
  test('dates must exist: leap days only in leap years', () => {
    expect(parseDate('2024-02-29')).toBe('2024-02-29');
    expect(parseDate('2000-02-29')).toBe('2000-02-29');
    for (const bad of ['2023-02-29', '1900-02-29', '2024-04-31', '2024-13-01', '2024-00-10', '2024-1-01', '24-01-01']) {
      expect(parseDate(bad), bad).toBeInstanceOf(CellError);
    }
  });

  test('dateLastModified: milliseconds and Z in 1.2; 1.1 may omit them or use an offset', () => {
    expect(parseDateTime('2024-09-01T12:00:00.000Z')).toBe('2024-09-01T12:00:00.000Z');
    expect(parseDateTime('2024-09-01T12:00:00Z')).toBeInstanceOf(CellError);
    expect(parseDateTime('2024-09-01T12:00:00Z', true)).toBe('2024-09-01T12:00:00.000Z');
    expect(parseDateTime('2024-09-01T14:00:00+02:00', true)).toBe('2024-09-01T12:00:00.000Z');
  });

  test('lists, userIds and vocabularies', () => {
    expect(parseList('09, 10')).toEqual(['09', '10']);
    expect(parseList('09,,10')).toBeInstanceOf(CellError);
    expect(parseUserIds('{LDAP:jdoe}, {SIS:12:34}')).toEqual([{ type: 'LDAP', identifier: 'jdoe' }, { type: 'SIS', identifier: '12:34' }]);
    expect(parseUserIds('{LDAP}')).toBeInstanceOf(CellError);
    expect(parseVocabulary('ext:Campus-1', ['school'])).toBe('ext:Campus-1');
    expect(parseVocabulary('ext:', ['school'])).toBeInstanceOf(CellError);
  });

  test('a BOM before the header is not part of the first column', () => {
    const header = headerOf(files.orgs);
    expect(Array.isArray(checkHeader([`\uFEFF${header[0]}`, ...header.slice(1)], [files.orgs]))).toBe(false);
  });

  test('written fields are quoted only when they must be', () => {
    expect(csvLine(['a', 'b,c', 'say "hi"', ' pad', 'line\nbreak', ''])).toBe('a,"b,c","say ""hi"""," pad","line\nbreak",\r\n');
  });
});
