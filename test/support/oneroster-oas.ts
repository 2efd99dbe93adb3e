import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Validation against the official OneRoster 1.2 OpenAPI files in ../shared/specs/oneroster. The YAML
 * declares string booleans as `type: string, enum: [true, false]` with unquoted (boolean) enum
 * values, which no string can match; that one quirk is normalised to `['true', 'false']` first.
 */

type Json = Record<string, unknown>;

function normalise(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normalise);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = normalise(v);
  if (out.type === 'string' && Array.isArray(out.enum)) out.enum = (out.enum as unknown[]).map(String);
  return out;
}

/** The official file as vendored in standards/oneroster/spec (a test checks it against ../shared/specs). */
export function loadSpec(file: string) {
  const doc = normalise(parse(readFileSync(new URL(`../../standards/oneroster/spec/${file}`, import.meta.url), 'utf8'))) as Json;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'oas', components: doc.components }, 'oas');
  const byOperation = new Map<string, { path: string; method: string; responses: Json }>();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item) as [string, Json][]) {
      if (op && typeof op === 'object' && 'operationId' in op) byOperation.set(op.operationId as string, { path, method, responses: op.responses as Json });
    }
  }
  const cache = new Map<string, ValidateFunction>();
  return {
    operations: byOperation,
    /** Validates a response body; returns the errors (none: valid). */
    validate(operationId: string, status: number, body: unknown): string[] {
      const key = `${operationId} ${status}`;
      let check = cache.get(key);
      if (!check) {
        const response = (byOperation.get(operationId)?.responses[String(status)] ?? byOperation.get(operationId)?.responses.default) as Json | undefined;
        if (!response) return [`${operationId} declares no ${status} response`];
        const ref = ((response.content as Json)['application/json'] as Json).schema as Json;
        check = ajv.compile({ $ref: `oas${String(ref.$ref)}` });
        cache.set(key, check);
      }
      return check(body) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    },
  };
}
