import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { servedSpec } from './openapi.ts';

/**
 * Request bodies checked against the official Ed-Fi schemas (from openapi/edfi.json), the way
 * Ed-Fi's data-strictness rules say: unknown properties and nulls are dropped, "true"/"1" and
 * numeric strings are coerced, a date-time in a date field is refused, and every error of the
 * body comes back at once, keyed by JSON path with Ed-Fi-style messages.
 */

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

function validatorFor(schema: string): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    if (!ajv) {
      ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: false });
      addFormats.default(ajv);
      ajv.addSchema(servedSpec(), 'edfi');
    }
    fn = ajv.getSchema(`edfi#/components/schemas/${schema}`)!;
    compiled.set(schema, fn);
  }
  return fn;
}

const label = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

function pathOf(e: ErrorObject): string {
  const parts = e.instancePath.split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  if (e.keyword === 'required') parts.push(`.${(e.params as { missingProperty: string }).missingProperty}`);
  return `$${parts.join('')}`;
}

function messageOf(e: ErrorObject, path: string): string {
  const name = label(path.split('.').at(-1)!.replace(/\[\d+\]$/, ''));
  switch (e.keyword) {
    case 'required': return `${name} is required.`;
    case 'maxLength': return `${name} must be at most ${(e.params as { limit: number }).limit} characters in length.`;
    case 'minLength': return `${name} is required and should not be left empty.`;
    case 'format': return `${name} must be a valid ${(e.params as { format: string }).format}.`;
    case 'type': return `${name} must be of type ${(e.params as { type: string }).type}.`;
    case 'maximum': case 'minimum': return `${name} ${e.message}.`;
    default: return `${name} ${e.message ?? 'is not valid'}.`;
  }
}

/** Drops nulls (and, at the top, properties the resource does not have) the way Ed-Fi's strictness rules do. */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(clean);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, clean(v)]));
  }
  return value;
}

export type Validation = { ok: true; doc: Record<string, any> } | { ok: false; errors: Record<string, string[]> };

export function validateBody(schema: string, body: Record<string, unknown>): Validation {
  const properties = servedSpec().components.schemas[schema]?.properties as Record<string, unknown> | undefined;
  const doc = clean(Object.fromEntries(Object.entries(body).filter(([k]) => !properties || k in properties))) as Record<string, any>;
  const fn = validatorFor(schema);
  if (fn(doc)) return { ok: true, doc };
  const errors: Record<string, string[]> = {};
  for (const e of fn.errors ?? []) {
    const path = pathOf(e);
    (errors[path] ??= []).push(messageOf(e, path));
  }
  return { ok: false, errors };
}

/** Every descriptor value of a body with its JSON path (`…Descriptor` properties, at any depth). */
export function descriptorsIn(value: unknown, path = '$', out: [string, string][] = []): [string, string][] {
  if (Array.isArray(value)) value.forEach((v, i) => descriptorsIn(v, `${path}[${i}]`, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && k.endsWith('Descriptor')) out.push([`${path}.${k}`, v]);
      else descriptorsIn(v, `${path}.${k}`, out);
    }
  }
  return out;
}
