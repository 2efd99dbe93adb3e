import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** The OneRoster 1.2 error body: `imsx_StatusInfoDType` at the top level, exactly as the OpenAPI has it. */

export type CodeMinor =
  | 'fullsuccess' | 'invalid_filter_field' | 'invalid_selection_field' | 'invaliddata' | 'unauthorisedrequest'
  | 'forbidden' | 'server_busy' | 'unknownobject' | 'internal_server_error' | 'deletefailure';

export function statusInfo(codeMinor: CodeMinor, description: string, severity: 'error' | 'warning' = 'error') {
  return {
    imsx_codeMajor: severity === 'error' ? 'failure' : 'success',
    imsx_severity: severity,
    imsx_description: description,
    imsx_CodeMinor: { imsx_codeMinorField: [{ imsx_codeMinorFieldName: 'TargetEndSystem', imsx_codeMinorFieldValue: codeMinor }] },
  };
}

export function imsxError(c: Context, status: ContentfulStatusCode, codeMinor: CodeMinor, description: string) {
  return c.json(statusInfo(codeMinor, description), status) as never;
}

/** A request the standard answers with 400 (bad filter, sort, limit…), carried to the route as a value. */
export class RequestError extends Error {
  readonly codeMinor: CodeMinor;
  constructor(codeMinor: CodeMinor, message: string) {
    super(message);
    this.codeMinor = codeMinor;
  }
}
