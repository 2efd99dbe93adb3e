import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { edfiResources } from './resources.ts';

/**
 * The Ed-Fi OpenAPI this gateway conforms to: the official DS 5.0 Resources and Descriptors
 * documents (vendored, unchanged, in standards/edfi/spec) cut down to the resources served, with
 * every schema they reference. Generated into openapi/edfi.json (`openapi:write`); request bodies
 * are validated against that file's schemas, so the official definitions decide what is valid.
 */

const specFile = (name: string) => new URL(`./spec/${name}`, import.meta.url);
export const servedSpecFile = new URL('../../openapi/edfi.json', import.meta.url);

type Doc = Record<string, any>;

/** The official documents, parsed (slow: 4 MB of YAML; tests and the generator only). */
let official: Doc[] | undefined;
export function officialDocuments(): Doc[] {
  official ??= ['resources-ds-5.0.yml', 'descriptor-api-5.0.yml'].map((f) => parse(readFileSync(specFile(f), 'utf8')) as Doc);
  return official;
}

function refsIn(value: unknown, out: Set<string>) {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.add(v);
      else refsIn(v, out);
    }
  }
}

export function servedDocument(): Doc {
  const [resources, descriptors] = officialDocuments() as [Doc, Doc];
  const served = new Set(edfiResources.flatMap((r) => [`/ed-fi/${r.name}`, `/ed-fi/${r.name}/{id}`]));
  const paths: Doc = {};
  const components: Doc = { schemas: {}, parameters: {}, responses: {} };
  for (const source of [resources, descriptors]) {
    for (const [path, item] of Object.entries(source.paths as Doc)) if (served.has(path)) paths[path] = item;
  }
  // Every component the kept paths reach, transitively.
  const pending = new Set<string>();
  refsIn(paths, pending);
  const seen = new Set<string>();
  while (pending.size) {
    const ref = pending.values().next().value!;
    pending.delete(ref);
    if (seen.has(ref)) continue;
    seen.add(ref);
    const [, , kind, name] = ref.split('/') as [string, string, string, string];
    const def = resources.components[kind]?.[name] ?? descriptors.components[kind]?.[name];
    if (!def) continue;
    components[kind][name] = def;
    refsIn(def, pending);
  }
  for (const kind of Object.keys(components)) components[kind] = Object.fromEntries(Object.entries(components[kind]).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: resources.openapi,
    info: { ...resources.info, title: 'Ed-Fi Resources API (5.0) served by Rostergate', description: 'The official Ed-Fi DS 5.0 resources and descriptors this gateway serves, over its shared schema.' },
    servers: [{ url: '/data/v3', description: 'This Rostergate gateway (also at /data)' }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: { ...components, securitySchemes: { oauth2_client_credentials: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: {} } } } } },
  };
}

let servedSchemas: Doc | undefined;
/** The committed served document (fast to read; the generator keeps it in step with the code). */
export function servedSpec(): Doc {
  servedSchemas ??= JSON.parse(readFileSync(servedSpecFile, 'utf8')) as Doc;
  return servedSchemas;
}
