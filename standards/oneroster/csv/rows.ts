import type { SourceIssue } from '../../../src/sync/records.ts';
import { commonColumns, headerOf, type Column, type CsvFile } from './files.ts';
import {
  CellError, cedsGrades, parseBoolean, parseDate, parseDateTime, parseEnum, parseList, parseNumber, parseScoreScaleValue, parseUserIds,
  parseVocabulary, parseYear,
} from './values.ts';

/**
 * One CSV file's header and rows checked against the binding: every problem becomes an issue with
 * file, line and column; a row with any error yields nothing. Values come out as canonical fields.
 */

export type Mode = 'bulk' | 'delta';

export interface Layout {
  file: CsvFile;
  /** Extension columns (`metadata.<name>`) after the spec columns, by position. */
  extensions: string[];
}

export interface Row {
  line: number;
  sourcedId: string;
  /** A delta `tobedeleted` row: only its id counts. */
  tombstone: boolean;
  /** Canonical fields, sourcedId first, absent cells left out; `metadata` holds the extension columns. */
  fields: Record<string, unknown>;
}

type Issue = Omit<SourceIssue, 'entity' | 'file'>;

const error = (line: number, field: string | null, code: string, message: string, sourcedId: string | null = null): Issue =>
  ({ sourcedId, field, line, severity: 'error', code, message });

/**
 * Matches a header against the file's layouts (a file may have more than one, e.g. users.csv of
 * 1.2 and of 1.2.1). Spec columns must all be there, in order; extension columns must be named
 * `metadata.…` and come last.
 */
export function checkHeader(cells: string[], layouts: readonly CsvFile[]): Layout | Issue[] {
  const header = cells.map((c, i) => (i === 0 ? c.replace(/^\uFEFF/, '') : c).trim());
  let best: Issue[] | undefined;
  for (const file of layouts) {
    const spec = headerOf(file);
    const issues: Issue[] = [];
    const missing = spec.filter((c) => !header.includes(c));
    if (missing.length) issues.push(error(1, missing.join(', '), 'missing_columns', `the header lacks ${missing.length > 1 ? 'columns' : 'column'} ${missing.join(', ')}; every column of the spec must be present, even when empty`));
    const present = header.filter((c) => spec.includes(c));
    const expected = spec.filter((c) => header.includes(c));
    const at = present.findIndex((c, i) => c !== expected[i]);
    if (at !== -1) issues.push(error(1, present[at]!, 'column_order', `columns must be in the spec's order (${spec.join(',')}); found ${present[at]} where ${expected[at]} belongs`));
    const lastSpec = Math.max(...spec.map((c) => header.indexOf(c)));
    header.forEach((c, i) => {
      if (spec.includes(c)) return;
      if (!/^metadata\..+/.test(c)) issues.push(error(1, c, 'unknown_column', `unknown column ${JSON.stringify(c)}; extension columns must be named metadata.<name>`));
      else if (i < lastSpec) issues.push(error(1, c, 'extension_not_last', `extension column ${c} must come after the spec columns`));
    });
    const dupes = header.filter((c, i) => header.indexOf(c) !== i);
    if (dupes.length) issues.push(error(1, dupes[0]!, 'duplicate_column', `column ${dupes[0]} appears more than once`));
    if (issues.length === 0) return { file, extensions: header.slice(spec.length).map((c) => c.slice('metadata.'.length)) };
    if (!best || issues.length < best.length) best = issues;
  }
  return best!;
}

export interface RowContext {
  mode: Mode;
  /** OneRoster 1.1 packages: dates without milliseconds are tolerated. */
  lenient: boolean;
}

/** Checks one data row; returns the row, or its issues (warnings may come with a row). */
export function checkRow(cells: string[], line: number, layout: Layout, ctx: RowContext): { row?: Row; issues: Issue[] } {
  const { file } = layout;
  const width = commonColumns.length + file.columns.length + layout.extensions.length;
  if (cells.length !== width) {
    return { issues: [error(line, null, 'field_count', `has ${cells.length} fields; the header has ${width}`)] };
  }
  const issues: Issue[] = [];
  const sourcedId = cells[0]!.trim();
  const id = sourcedId || null;
  if (!sourcedId) issues.push(error(line, 'sourcedId', 'required', 'sourcedId is required'));
  const [status, modified] = [cells[1]!.trim(), cells[2]!.trim()];
  let tombstone = false;
  if (ctx.mode === 'bulk') {
    if (status) issues.push(error(line, 'status', 'field_forbidden_in_bulk', 'status must be blank in a bulk file', id));
    if (modified) issues.push(error(line, 'dateLastModified', 'field_forbidden_in_bulk', 'dateLastModified must be blank in a bulk file', id));
  } else {
    if (status !== 'active' && status !== 'tobedeleted') {
      issues.push(error(line, 'status', status ? 'invalid_enum' : 'field_required_in_delta', status ? `status must be active or tobedeleted; got ${JSON.stringify(status)}` : 'status is required in a delta file', id));
    }
    if (!modified) issues.push(error(line, 'dateLastModified', 'field_required_in_delta', 'dateLastModified is required in a delta file', id));
    else {
      const parsed = parseDateTime(modified, ctx.lenient);
      if (parsed instanceof CellError) issues.push(error(line, 'dateLastModified', parsed.code, `dateLastModified ${parsed.message}`, id));
    }
    tombstone = status === 'tobedeleted';
  }
  const fields: Record<string, unknown> = { sourcedId };
  // A deleted row names the record to delete; its other cells are not looked at, except the
  // user a deleted role or profile belongs to, when given, and a deleted link's cells (what it unlinks).
  if (tombstone && !file.owner) {
    const owner = file.columns.findIndex((c) => c.name === 'userSourcedId');
    const cell = owner === -1 ? '' : cells[commonColumns.length + owner]!.trim();
    if (cell) fields.userSourcedId = cell;
  } else {
    for (let i = 0; i < file.columns.length; i++) {
      const column = file.columns[i]!;
      const cell = cells[commonColumns.length + i]!.trim();
      if (cell === '') {
        if (column.required) issues.push(error(line, column.name, 'required', `${column.name} is required`, id));
        continue;
      }
      const value = parseCell(cell, column, ctx.lenient);
      if (value instanceof CellError) issues.push(error(line, column.name, value.code, `${column.name} ${value.message}`, id));
      else if (value !== undefined) fields[column.field] = value;
    }
    if (Array.isArray(fields.subjects) && Array.isArray(fields.subjectCodes) && fields.subjects.length !== fields.subjectCodes.length) {
      issues.push(error(line, 'subjectCodes', 'subjects_length_mismatch', `subjects has ${fields.subjects.length} items and subjectCodes ${fields.subjectCodes.length}; they are paired and must have the same length`, id));
    }
    for (const grade of (fields.grades as string[] | undefined) ?? []) {
      if (!cedsGrades.has(grade)) issues.push({ ...error(line, 'grades', 'non_ceds_grade', `grade ${JSON.stringify(grade)} is not a CEDS grade level; some consumers reject it`, id), severity: 'warning' });
    }
    const metadata: Record<string, string> = {};
    layout.extensions.forEach((name, i) => {
      const cell = cells[commonColumns.length + file.columns.length + i]!;
      if (cell !== '') metadata[name] = cell;
    });
    if (Object.keys(metadata).length) fields.metadata = metadata;
  }
  if (issues.some((i) => i.severity === 'error')) return { issues };
  return { row: { line, sourcedId, tombstone, fields }, issues };
}

function parseCell(cell: string, column: Column, lenient: boolean): unknown {
  const kind = column.kind;
  switch (kind) {
    case 'id':
    case 'text':
      return cell;
    case 'date':
      return parseDate(cell);
    case 'datetime':
      return parseDateTime(cell, lenient);
    case 'number':
      return parseNumber(cell);
    case 'scoreScaleValue':
      return parseScoreScaleValue(cell);
    case 'year':
      return parseYear(cell);
    case 'boolean':
      return parseBoolean(cell);
    case 'list':
      return parseList(cell);
    case 'userIds':
      return parseUserIds(cell);
    case 'dropped':
      return undefined;
    default:
      return 'vocabulary' in kind ? parseVocabulary(cell, kind.vocabulary) : parseEnum(cell, kind.closed);
  }
}
