/**
 * OAuth scopes the gateway grants: the OneRoster 1.2 rostering and gradebook scopes as full 1EdTech URIs, the
 * gateway's own admin scope (the admin API accepts it as well as the admin token) and the Ed-Fi
 * claims: read or write every Ed-Fi resource, or one resource (`…:edfi.students.write`). Write
 * includes read.
 */
const or = 'https://purl.imsglobal.org/spec/or/v1p2/scope/';

export const scopes = {
  roster: `${or}roster.readonly`,
  rosterCore: `${or}roster-core.readonly`,
  rosterDemographics: `${or}roster-demographics.readonly`,
  gradebook: `${or}gradebook.readonly`,
  gradebookCore: `${or}gradebook-core.readonly`,
  gradebookPut: `${or}gradebook.createput`,
  gradebookPost: `${or}gradebook.createpost`,
  gradebookDelete: `${or}gradebook.delete`,
  admin: 'urn:rostergate:scope:admin',
  edfiRead: 'urn:rostergate:scope:edfi.read',
  edfiWrite: 'urn:rostergate:scope:edfi.write',
} as const;

const edfiResourceScope = /^urn:rostergate:scope:edfi\.[a-zA-Z]+\.(read|write)$/;

export type Scope = (typeof scopes)[keyof typeof scopes] | `urn:rostergate:scope:edfi.${string}`;

export const knownScopes: readonly string[] = Object.values(scopes);

/** Short names accepted on the CLI (`roster`, `roster-core`, `roster-demographics`, `admin`, `edfi.read`, `edfi.students.write`, …). */
export function scopeFromName(name: string): Scope | undefined {
  const short: Record<string, Scope> = {
    roster: scopes.roster, 'roster-core': scopes.rosterCore, 'roster-demographics': scopes.rosterDemographics, admin: scopes.admin,
    gradebook: scopes.gradebook, 'gradebook-core': scopes.gradebookCore, 'gradebook.createput': scopes.gradebookPut,
    'gradebook.createpost': scopes.gradebookPost, 'gradebook.delete': scopes.gradebookDelete,
    'edfi.read': scopes.edfiRead, 'edfi.write': scopes.edfiWrite,
  };
  if (short[name]) return short[name];
  if (edfiResourceScope.test(`urn:rostergate:scope:${name}`)) return `urn:rostergate:scope:${name}` as Scope;
  return knownScopes.includes(name) || edfiResourceScope.test(name) ? (name as Scope) : undefined;
}

/** Whether granted scopes allow reading (or writing) an Ed-Fi resource. */
export function edfiAllows(granted: Set<string>, resource: string, write: boolean): boolean {
  const own = `urn:rostergate:scope:edfi.${resource}`;
  return granted.has(scopes.edfiWrite) || granted.has(`${own}.write`) || (!write && (granted.has(scopes.edfiRead) || granted.has(`${own}.read`)));
}
