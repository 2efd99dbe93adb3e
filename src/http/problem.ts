import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** RFC 9457 Problem Details, the error shape of the admin API and the gateway's own routes. */
export const problemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:rostergate:problem:not-found' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof problemSchema>;

const titles: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  405: 'Method Not Allowed', 413: 'Content Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export function problem(c: Context, status: ContentfulStatusCode, detail?: string, extra: Partial<Problem> = {}) {
  const slug = (titles[status] ?? 'Error').toLowerCase().replace(/\s+/g, '-');
  const body: Problem = {
    type: `urn:rostergate:problem:${slug}`,
    title: titles[status] ?? 'Error',
    status,
    ...(detail ? { detail } : {}),
    requestId: c.get('requestId'),
    ...extra,
  };
  // Typed as `never` so a route can return it whatever its declared success type; the route's
  // `responses` (see problemResponses) is what documents the error.
  return c.json(body, status, { 'content-type': 'application/problem+json' }) as never;
}

/** Error responses to spread into a route's `responses` so the OpenAPI document lists them. */
export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, { description: titles[s] ?? 'Error', content: { 'application/problem+json': { schema: problemSchema } } }]),
  );
