import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Hono } from 'hono';
import { DISCOVERY_PATH, GRADEBOOK_DISCOVERY_PATH } from '../../standards/oneroster/rest/discovery.ts';

/**
 * /docs: Swagger UI served from the swagger-ui-dist package itself (no CDN, works offline), over
 * the admin API and the OneRoster discovery documents.
 */

const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Rostergate API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`;

const init = `window.ui = SwaggerUIBundle({
  dom_id: '#ui',
  urls: [
    { url: '${DISCOVERY_PATH}', name: 'OneRoster 1.2 Rostering' },
    { url: '${GRADEBOOK_DISCOVERY_PATH}', name: 'OneRoster 1.2 Gradebook' },
    { url: '/openapi/edfi.json', name: 'Ed-Fi Resources API (DS 5.0)' },
    { url: '/openapi/admin.json', name: 'Rostergate admin API' }
  ],
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout'
});`;

export function registerDocs(app: Hono<any>) {
  app.get('/docs', (c) => c.html(page));
  app.get('/docs/init.js', (c) => c.body(init, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/docs/assets/:file', (c) => {
    const file = c.req.param('file');
    const type = assets[file];
    if (!type) return c.notFound();
    return c.body(readFileSync(join(dist, file)), 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
}
