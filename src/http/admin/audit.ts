import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { listAudit } from '../../audit.ts';
import type { Orm } from '../../db/orm.ts';
import type { AppEnv } from '../app.ts';
import { problemResponses } from '../problem.ts';

/** GET /admin/audit: who read or changed what, newest first. */

const event = z.object({
  id: z.string(), at: z.string(), actorKind: z.enum(['client', 'admin', 'console', 'anonymous']), actor: z.string().nullable(),
  method: z.string(), route: z.string(), path: z.string(), status: z.number().int(), records: z.number().int().nullable(), requestId: z.string().nullable(),
}).openapi('AuditEvent');

export function registerAuditRoutes(app: OpenAPIHono<AppEnv>, orm: Orm) {
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/audit', summary: 'The audit trail: API requests and admin actions, newest first', security: [{ adminToken: [] }],
      request: {
        query: z.object({
          actor: z.string().optional().openapi({ description: 'A client id, admin-token, or a console username' }),
          route: z.string().optional().openapi({ description: 'A route pattern, e.g. /ims/oneroster/rostering/v1p2/students/:sourcedId' }),
          since: z.iso.datetime({ offset: true }).optional(),
          until: z.iso.datetime({ offset: true }).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: { 200: { description: 'Audit events', content: { 'application/json': { schema: z.object({ events: z.array(event), total: z.number().int() }) } } }, ...problemResponses(400, 401) },
    }),
    async (c) => c.json((await listAudit(orm, c.req.valid('query'))) as never, 200),
  );
}
