import type { SourceIssue } from '../../../src/sync/records.ts';
import { manifestFiles, type FileName } from './files.ts';

/**
 * manifest.csv (reference §3.2): `propertyName,value` rows naming the OneRoster version and each
 * file's mode. The manifest decides what is read; the package's files must agree with it.
 */

export type FileMode = 'absent' | 'bulk' | 'delta';

export interface Manifest {
  /** `1.1`, or `1.2` for both 1.2 and the 1.2.1 correction. */
  version: '1.1' | '1.2';
  modes: Map<string, FileMode>;
  systemName?: string;
  systemCode?: string;
}

type Issue = Omit<SourceIssue, 'entity'>;
const error = (line: number | null, field: string | null, code: string, message: string): Issue =>
  ({ sourcedId: null, field, file: 'manifest.csv', line, severity: 'error', code, message });

/** Reads the manifest's rows (header included) and checks them against the files in the package. */
export function readManifest(rows: { cells: string[]; line: number }[], present: ReadonlySet<string>): { manifest?: Manifest; issues: Issue[] } {
  const issues: Issue[] = [];
  const [header, ...body] = rows;
  const head = header?.cells.map((c, i) => (i === 0 ? c.replace(/^\uFEFF/, '') : c).trim());
  if (!head || head.length !== 2 || head[0] !== 'propertyName' || head[1] !== 'value') {
    return { issues: [error(1, null, 'manifest_header', 'manifest.csv must start with the header propertyName,value')] };
  }
  const props = new Map<string, { value: string; line: number }>();
  for (const { cells, line } of body) {
    if (cells.length === 1 && cells[0] === '') continue;
    if (cells.length !== 2) {
      issues.push(error(line, null, 'field_count', `has ${cells.length} fields; the manifest has 2 (propertyName,value)`));
      continue;
    }
    const [name, value] = [cells[0]!.trim(), cells[1]!.trim()];
    if (props.has(name)) issues.push(error(line, name, 'duplicate_property', `${name} appears more than once`));
    props.set(name, { value, line });
  }

  const manifestVersion = props.get('manifest.version');
  if (manifestVersion?.value !== '1.0') {
    issues.push(error(manifestVersion?.line ?? null, 'manifest.version', 'manifest_version', `manifest.version must be 1.0; got ${JSON.stringify(manifestVersion?.value ?? '')}`));
  }
  const versionProp = props.get('oneroster.version');
  const version = versionProp?.value === '1.1' ? '1.1' : versionProp?.value === '1.2' || versionProp?.value === '1.2.1' ? '1.2' : undefined;
  if (!version) {
    issues.push(error(versionProp?.line ?? null, 'oneroster.version', 'oneroster_version', `oneroster.version must be 1.2 (or 1.2.1, or 1.1); got ${JSON.stringify(versionProp?.value ?? '')}`));
  }

  const modes = new Map<string, FileMode>();
  for (const [name, { value, line }] of props) {
    if (!name.startsWith('file.')) continue;
    const file = name.slice('file.'.length);
    if (!(manifestFiles as readonly string[]).includes(file)) {
      issues.push(error(line, name, 'unknown_file_property', `${name} is not a file of OneRoster 1.2`));
      continue;
    }
    if (value !== 'absent' && value !== 'bulk' && value !== 'delta') {
      issues.push(error(line, name, 'invalid_file_mode', `${name} must be absent, bulk or delta; got ${JSON.stringify(value)}`));
      continue;
    }
    modes.set(file, value);
    const inPackage = present.has(`${file}.csv`);
    if (value === 'absent' && inPackage) issues.push(error(line, name, 'file_not_declared', `${file}.csv is in the package but the manifest says absent`));
    if (value !== 'absent' && !inPackage) issues.push(error(line, name, 'file_missing', `the manifest declares ${file}.csv as ${value} but the package has no such file`));
  }
  for (const name of present) {
    const file = name.replace(/\.csv$/, '');
    if (name === 'manifest.csv' || modes.has(file)) continue;
    if ((manifestFiles as readonly string[]).includes(file)) {
      issues.push(error(null, `file.${file}`, 'file_not_declared', `${name} is in the package but the manifest has no file.${file} line`));
    }
  }
  if (issues.length) return { issues };
  return {
    manifest: { version: version!, modes, systemName: props.get('source.systemName')?.value || undefined, systemCode: props.get('source.systemCode')?.value || undefined },
    issues,
  };
}

export const modeOf = (manifest: Manifest, file: FileName): FileMode => manifest.modes.get(file) ?? 'absent';

/** The manifest of a package this gateway writes. */
export function writeManifest(modes: Record<FileName, FileMode>, systemName = 'Rostergate'): string[][] {
  return [
    ['propertyName', 'value'],
    ['manifest.version', '1.0'],
    ['oneroster.version', '1.2'],
    ...manifestFiles.map((f) => [`file.${f}`, modes[f as FileName] ?? 'absent']),
    ['source.systemName', systemName],
    ['source.systemCode', 'rostergate'],
  ];
}
