/**
 * OAuth scopes the gateway grants: the OneRoster 1.2 rostering scopes as full 1EdTech URIs, and the
 * gateway's own admin scope (the admin API accepts it as well as the admin token).
 */
const or = 'https://purl.imsglobal.org/spec/or/v1p2/scope/';

export const scopes = {
  roster: `${or}roster.readonly`,
  rosterCore: `${or}roster-core.readonly`,
  rosterDemographics: `${or}roster-demographics.readonly`,
  admin: 'urn:rostergate:scope:admin',
} as const;

export type Scope = (typeof scopes)[keyof typeof scopes];

export const knownScopes: readonly string[] = Object.values(scopes);

/** Short names accepted on the CLI (`roster`, `roster-core`, `roster-demographics`, `admin`). */
export function scopeFromName(name: string): Scope | undefined {
  const short: Record<string, Scope> = {
    roster: scopes.roster, 'roster-core': scopes.rosterCore, 'roster-demographics': scopes.rosterDemographics, admin: scopes.admin,
  };
  return short[name] ?? (knownScopes.includes(name) ? (name as Scope) : undefined);
}
