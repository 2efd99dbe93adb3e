import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { GRADEBOOK_PATH } from './gradebook-operations.ts';
import { BASE_PATH } from './operations.ts';

/**
 * The localized OpenAPI a OneRoster consumer discovers: the service's official document (vendored
 * in standards/oneroster/spec, unchanged) with this server's URL and token URL filled in and only
 * the operations this gateway serves.
 */

export interface Discoverable {
  specFile: URL;
  basePath: string;
  /** Served paths, OpenAPI style, relative to the base path. */
  paths: readonly string[];
}

export const DISCOVERY_PATH = `${BASE_PATH}/discovery/onerosterv1p2rostersservice_openapi3_v1p0.json`;
export const GRADEBOOK_DISCOVERY_PATH = `${GRADEBOOK_PATH}/discovery/onerosterv1p2gradebookservice_openapi3_v1p0.json`;
export const officialSpecFile = new URL('../spec/rostersservice.yaml', import.meta.url);
export const gradebookSpecFile = new URL('../spec/gradebookservice.yaml', import.meta.url);

const official = new Map<string, Record<string, any>>();

export function discoveryDocument(origin: string, service: Discoverable): Record<string, unknown> {
  let loaded = official.get(service.specFile.href);
  if (!loaded) official.set(service.specFile.href, (loaded = parse(readFileSync(service.specFile, 'utf8')) as Record<string, any>));
  const doc = structuredClone(loaded);
  doc.servers = [{ url: `${origin}${service.basePath}`, description: 'This Rostergate gateway' }];
  const served = new Set(service.paths);
  doc.paths = Object.fromEntries(Object.entries(doc.paths as Record<string, unknown>).filter(([path]) => served.has(path)));
  doc.components.securitySchemes.OAuth2CC.flows.clientCredentials.tokenUrl = `${origin}/oauth/token`;
  return doc;
}
