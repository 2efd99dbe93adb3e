import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SecretBox } from '../auth/secret-box.ts';
import { TokenIssuer } from '../auth/tokens.ts';
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../log.ts';
import type { Orm } from '../db/orm.ts';
import { servedDocument } from '../../standards/edfi/openapi.ts';
import { discoveryDocument } from '../../standards/oneroster/rest/discovery.ts';
import { gradebookDiscovery } from '../../standards/oneroster/rest/gradebook-routes.ts';
import { rosteringDiscovery } from '../../standards/oneroster/rest/routes.ts';
import { adminDocument, createApp } from './app.ts';

export const openApiDir = fileURLToPath(new URL('../../openapi', import.meta.url));

/** The committed OpenAPI documents, generated from the routes (no database needed). */
export function openApiDocuments(): Record<string, unknown> {
  const app = createApp({ orm: {} as Orm, config: loadConfig({}), tokens: new TokenIssuer('x'.repeat(32), 3600), box: new SecretBox(Buffer.alloc(32)), credential: { verify: () => false }, logger: createLogger('silent') });
  return {
    'admin.json': app.getOpenAPI31Document(adminDocument),
    // The OneRoster routes are the official document's, localized (what discovery serves).
    'oneroster-rostering.json': discoveryDocument('http://localhost:8080', rosteringDiscovery),
    'oneroster-gradebook.json': discoveryDocument('http://localhost:8080', gradebookDiscovery),
    // The official Ed-Fi DS 5.0 documents, cut to the resources served (also what bodies are validated against).
    'edfi.json': servedDocument(),
  };
}

export async function writeOpenApi(): Promise<string[]> {
  mkdirSync(openApiDir, { recursive: true });
  return Object.entries(openApiDocuments()).map(([name, doc]) => {
    const file = `${openApiDir}/${name}`;
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    return file;
  });
}
