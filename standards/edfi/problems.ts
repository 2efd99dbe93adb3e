import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Ed-Fi's error shape (ODS/API 7.2+, DMS): RFC 9457 Problem Details with `urn:ed-fi:api:…` types,
 * every validation error of a request keyed by JSON path, and the caller's correlation id.
 */

export interface EdfiProblem {
  status: ContentfulStatusCode;
  type: string;
  title: string;
  detail: string;
  validationErrors?: Record<string, string[]>;
  errors?: string[];
}

/** A request the door answers with this problem (thrown where the request is parsed or checked). */
export class ProblemError extends Error {
  readonly problem: EdfiProblem;
  constructor(problem: EdfiProblem) {
    super(problem.detail);
    this.problem = problem;
  }
}

export const problems = {
  validation: (validationErrors: Record<string, string[]>): EdfiProblem => ({
    status: 400, type: 'urn:ed-fi:api:bad-request:data-validation-failed', title: 'Data Validation Failed',
    detail: "Data validation failed. See 'validationErrors' for details.", validationErrors,
  }),
  badRequest: (...errors: string[]): EdfiProblem => ({
    status: 400, type: 'urn:ed-fi:api:bad-request', title: 'Bad Request', detail: "The request could not be processed. See 'errors' for details.", errors,
  }),
  parameters: (validationErrors: Record<string, string[]>, ...errors: string[]): EdfiProblem => ({
    status: 400, type: 'urn:ed-fi:api:bad-request:parameter-validation-failed', title: 'Parameter Validation Failed',
    detail: 'The request construction was invalid.', validationErrors, errors,
  }),
  keyChange: (resource: string): EdfiProblem => ({
    status: 400, type: 'urn:ed-fi:api:bad-request:data-validation-failed:key-change-not-supported', title: 'Key Change Not Supported',
    detail: `Identifying values for the ${resource} item cannot be changed. Delete and recreate the item instead.`,
  }),
  unauthenticated: (): EdfiProblem => ({
    status: 401, type: 'urn:ed-fi:api:security:authentication', title: 'Authentication Failed', detail: 'The caller could not be authenticated.',
  }),
  forbidden: (action: string, resource: string): EdfiProblem => ({
    status: 403, type: 'urn:ed-fi:api:security:authorization:access-denied:action', title: 'Authorization Denied',
    detail: 'Access to the requested data could not be authorized.', errors: [`The caller is not authorized to ${action} '${resource}' items.`],
  }),
  tooManyRequests: (seconds: number): EdfiProblem => ({
    status: 429, type: 'urn:ed-fi:api:too-many-requests', title: 'Too Many Requests', detail: `Too many requests from this client; retry after ${seconds} seconds.`,
  }),
  notFound: (): EdfiProblem => ({ status: 404, type: 'urn:ed-fi:api:not-found', title: 'Not Found', detail: 'The specified data could not be found.' }),
  methodNotAllowed: (message: string): EdfiProblem => ({
    status: 405, type: 'urn:ed-fi:api:method-not-allowed', title: 'Method Not Allowed', detail: 'The request construction was invalid.', errors: [message],
  }),
  unresolved: (messages: string[], validationErrors: Record<string, string[]>): EdfiProblem => ({
    status: 409, type: 'urn:ed-fi:api:data-conflict:unresolved-reference', title: 'Unresolved Reference', detail: messages.join(' '), validationErrors,
  }),
  dependent: (message: string): EdfiProblem => ({
    status: 409, type: 'urn:ed-fi:api:data-conflict:dependent-item-exists', title: 'Dependent Item Exists', detail: message,
  }),
  nonUnique: (message: string): EdfiProblem => ({
    status: 409, type: 'urn:ed-fi:api:data-conflict:non-unique-identity', title: 'Identifying Values Are Not Unique', detail: message, errors: [message],
  }),
  lockFailed: (): EdfiProblem => ({
    status: 412, type: 'urn:ed-fi:api:optimistic-lock-failed', title: 'Optimistic Lock Failed', detail: 'The item has been modified by another user.',
    errors: ["The resource item's etag value does not match what was specified in the 'If-Match' request header indicating that it has been modified by another client since it was last retrieved."],
  }),
  tooLarge: (limit: number): EdfiProblem => ({
    status: 413, type: 'urn:ed-fi:api:bad-request', title: 'Content Too Large', detail: `The request body is larger than ${limit} bytes.`,
  }),
  unsupportedMediaType: (): EdfiProblem => ({
    status: 415, type: 'urn:ed-fi:api:unsupported-media-type', title: 'Unsupported Media Type', detail: 'The request body must be application/json.',
  }),
  internal: (): EdfiProblem => ({
    status: 500, type: 'urn:ed-fi:api:internal-server-error', title: 'Internal Server Error', detail: 'Something went wrong on our side; the correlation id helps us find it.',
  }),
};

/** The id the caller sent (`correlationId` header or query parameter), else the request id. */
export const correlationIdOf = (c: Context) => c.req.header('correlationid') ?? c.req.query('correlationId') ?? c.get('requestId');

export function sendProblem(c: Context, p: EdfiProblem) {
  const body = { detail: p.detail, type: p.type, title: p.title, status: p.status, correlationId: correlationIdOf(c),
    validationErrors: p.validationErrors ?? {}, errors: p.errors ?? [] };
  return c.body(JSON.stringify(body), p.status, { 'content-type': 'application/problem+json' });
}
