/**
 * Value formats of the OneRoster 1.2.1 CSV binding (reference §3.4). Each parser takes a non-empty
 * cell and returns the value, or a `CellError` saying what the cell should look like.
 */

export class CellError {
  readonly code: string;
  readonly message: string;
  constructor(code: string, message: string) {
    this.code = code;
    this.message = message;
  }
}

export type Parsed<T> = T | CellError;

const datePattern = /^(\d{4})-(\d{2})-(\d{2})$/;

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function realDate(y: number, m: number, d: number) {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= monthDays[m - 1]! + (leap ? 1 : 0);
}

export function parseDate(cell: string): Parsed<string> {
  const m = datePattern.exec(cell);
  if (!m || !realDate(Number(m[1]), Number(m[2]), Number(m[3]))) {
    return new CellError('invalid_date', `must be a date as YYYY-MM-DD; got ${JSON.stringify(cell)}`);
  }
  return cell;
}

const dateTimePattern = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)\.(\d{3})Z$/;
/** OneRoster 1.1 producers often omit the milliseconds or use an offset; 1.1 packages may. */
const lenientDateTimePattern = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$/;

/** `dateLastModified`: strictly `YYYY-MM-DDTHH:MM:SS.sssZ` in 1.2; returned normalised to that form. */
export function parseDateTime(cell: string, lenient = false): Parsed<string> {
  const m = (lenient ? lenientDateTimePattern : dateTimePattern).exec(cell);
  if (!m || !realDate(Number(m[1]), Number(m[2]), Number(m[3]))) {
    return new CellError('invalid_datetime', `must be a UTC date-time as YYYY-MM-DDTHH:MM:SS.sssZ; got ${JSON.stringify(cell)}`);
  }
  return new Date(cell).toISOString();
}

export function parseYear(cell: string): Parsed<string> {
  return /^\d{4}$/.test(cell) ? cell : new CellError('invalid_year', `must be a four-digit year (YYYY); got ${JSON.stringify(cell)}`);
}

export function parseBoolean(cell: string): Parsed<boolean> {
  if (cell === 'true') return true;
  if (cell === 'false') return false;
  return new CellError('invalid_boolean', `must be true or false (lower case); got ${JSON.stringify(cell)}`);
}

/** A comma-separated list inside one field (`"09,10"`); spaces around items are dropped. */
export function parseList(cell: string): Parsed<string[]> {
  const items = cell.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) return new CellError('invalid_list', `has an empty item in the list ${JSON.stringify(cell)}`);
  return items;
}

const userIdsPattern = /^\{[^:}]+:[^}]+\}(\s*,\s*\{[^:}]+:[^}]+\})*$/;

/** `userIds`: `{type:identifier}` items, comma-separated. */
export function parseUserIds(cell: string): Parsed<{ type: string; identifier: string }[]> {
  if (!userIdsPattern.test(cell.trim())) {
    return new CellError('invalid_user_ids', `must be a list of {type:identifier} items, e.g. "{LDAP:jdoe},{SIS:1234}"; got ${JSON.stringify(cell)}`);
  }
  return [...cell.matchAll(/\{([^:}]+):([^}]+)\}/g)].map((m) => ({ type: m[1]!.trim(), identifier: m[2]!.trim() }));
}

/** A score, weight or bound: a plain decimal number. */
export function parseNumber(cell: string): Parsed<number> {
  return /^-?\d+(\.\d+)?$/.test(cell) ? Number(cell) : new CellError('invalid_number', `must be a number such as 42 or 87.5; got ${JSON.stringify(cell)}`);
}

const scalePattern = /^\{[^:}]+:[^}]*\}(\s*,\s*\{[^:}]+:[^}]*\})*$/;

/** `scoreScaleValue`: `{itemValueLHS:itemValueRHS}` items, comma-separated, e.g. `"{90:A},{80:B}"`. */
export function parseScoreScaleValue(cell: string): Parsed<{ itemValueLHS: string; itemValueRHS: string }[]> {
  if (!scalePattern.test(cell.trim())) {
    return new CellError('invalid_score_scale_value', `must be a list of {itemValueLHS:itemValueRHS} items, e.g. "{90:A},{80:B}"; got ${JSON.stringify(cell)}`);
  }
  return [...cell.matchAll(/\{([^:}]+):([^}]*)\}/g)].map((m) => ({ itemValueLHS: m[1]!.trim(), itemValueRHS: m[2]!.trim() }));
}

const extension = /^ext:[a-zA-Z0-9.\-_]+$/;

/** One of the standard's values, or an `ext:` extension. */
export function parseVocabulary(cell: string, values: readonly string[]): Parsed<string> {
  if (values.includes(cell) || extension.test(cell)) return cell;
  return new CellError('invalid_enum', `must be one of ${values.join(', ')} or ext:…; got ${JSON.stringify(cell)}`);
}

/** A closed vocabulary (no `ext:`), such as roleType. */
export function parseEnum(cell: string, values: readonly string[]): Parsed<string> {
  if (values.includes(cell)) return cell;
  return new CellError('invalid_enum', `must be one of ${values.join(', ')}; got ${JSON.stringify(cell)}`);
}

/** CEDS grade levels, which US consumers expect; 1.2 leaves grades open, so others only warn. */
export const cedsGrades = new Set([
  'IT', 'PR', 'PK', 'TK', 'KG', '01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', '13', 'PS', 'UG', 'Other',
]);

// ---- writing ----

/** A list cell: items joined by commas (the writer quotes the field). */
export const formatList = (items: readonly string[] | undefined) => (items && items.length ? items.join(',') : '');

export const formatScoreScaleValue = (items: readonly { itemValueLHS: string; itemValueRHS: string }[] | undefined) =>
  items && items.length ? items.map((i) => `{${i.itemValueLHS}:${i.itemValueRHS}}`).join(',') : '';

export const formatUserIds = (ids: readonly { type: string; identifier: string }[] | undefined) =>
  ids && ids.length ? ids.map((i) => `{${i.type}:${i.identifier}}`).join(',') : '';
