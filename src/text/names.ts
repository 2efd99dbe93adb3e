/**
 * A single full name as given and family name, for sources that keep only one name field (Canvas
 * without sortable_name, Kolibri): the last word is the family name, the rest the given name; one
 * word is a given name. A heuristic, so connectors keep the original beside it where they can.
 */
export function splitFullName(fullName: string): { givenName: string; familyName: string } {
  const name = fullName.trim().replace(/\s+/g, ' ');
  const space = name.lastIndexOf(' ');
  return space > 0 ? { givenName: name.slice(0, space), familyName: name.slice(space + 1) } : { givenName: name, familyName: '' };
}
