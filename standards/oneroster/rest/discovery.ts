import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { BASE_PATH, operations } from './operations.ts';

/**
 * The localized OpenAPI a OneRoster consumer discovers: the official rostering document (vendored
 * in standards/oneroster/spec, unchanged) with this server's URL and token URL filled in and only
 * the operations this gateway serves.
 */

export const DISCOVERY_PATH = `${BASE_PATH}/discovery/onerosterv1p2rostersservice_openapi3_v1p0.json`;
export const officialSpecFile = new URL('../spec/rostersservice.yaml', import.meta.url);

let official: Record<string, any> | undefined;

export function discoveryDocument(origin: string): Record<string, unknown> {
  official ??= parse(readFileSync(officialSpecFile, 'utf8')) as Record<string, any>;
  const doc = structuredClone(official);
  doc.servers = [{ url: `${origin}${BASE_PATH}`, description: 'This Rostergate gateway' }];
  const served = new Set(operations.map((o) => o.path));
  doc.paths = Object.fromEntries(Object.entries(doc.paths as Record<string, unknown>).filter(([path]) => served.has(path)));
  doc.components.securitySchemes.OAuth2CC.flows.clientCredentials.tokenUrl = `${origin}/oauth/token`;
  return doc;
}
