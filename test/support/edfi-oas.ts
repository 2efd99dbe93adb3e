import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { officialDocuments } from '../../standards/edfi/openapi.ts';

/**
 * Validation against the official Ed-Fi DS 5.0 OpenAPI documents (Resources and Descriptors, as
 * vendored in standards/edfi/spec), not the cut-down copy the gateway serves.
 */
export function edfiSchemas() {
  const [resources, descriptors] = officialDocuments();
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ components: resources!.components }, 'res');
  ajv.addSchema({ components: descriptors!.components }, 'desc');
  const cache = new Map<string, ValidateFunction>();
  return {
    /** Errors of one item against `edFi_<name>` (none: valid). */
    validate(schema: string, item: unknown): string[] {
      let check = cache.get(schema);
      if (!check) {
        const doc = resources!.components.schemas[schema] ? 'res' : 'desc';
        check = ajv.compile({ $ref: `${doc}#/components/schemas/${schema}` });
        cache.set(schema, check);
      }
      return check(item) ? [] : (check.errors ?? []).map((e) => `${schema}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    },
  };
}
