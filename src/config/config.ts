import { resolve } from 'node:path';
import { z } from 'zod';

const share = z.coerce.number().min(0).max(1);
const bytes = z.coerce.number().int().min(1);
const GiB = 1024 ** 3;

/**
 * Every setting the gateway reads from the environment. The README table is generated from the
 * `describe()` texts here, so keep them short and user-facing.
 */
export const configSchema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(8080).describe('HTTP port the gateway listens on'),
  HOST: z.string().min(1).default('0.0.0.0').describe('Interface the HTTP server binds to'),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/ })
    .optional()
    .describe('PostgreSQL server to use; when unset an embedded PostgreSQL is started under DATA_DIR'),
  DATABASE_READ_URL: z
    .url({ protocol: /^postgres(ql)?$/ })
    .optional()
    .describe('A read replica of DATABASE_URL; OneRoster API reads go there'),
  DATA_DIR: z.string().min(1).default('./data').describe('Folder for the embedded database and generated secrets'),
  EMBEDDED_PG_PORT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(65535)
    .refine((p) => p !== 5432, 'must not be 5432, which belongs to a system PostgreSQL')
    // Below Linux's ephemeral range (32768–60999), where an outgoing connection could hold the port at start.
    .default(25432)
    .describe('Port of the embedded PostgreSQL (never 5432)'),
  ADMIN_TOKEN: z
    .string()
    .min(32, 'must be at least 32 characters')
    .optional()
    .describe('Bearer token for /admin routes; required with DATABASE_URL, generated under DATA_DIR otherwise'),
  TOKEN_SIGNING_KEY: z
    .string()
    .min(32, 'must be at least 32 characters')
    .optional()
    .describe('Key that signs OAuth access tokens (HS256); required with DATABASE_URL, generated under DATA_DIR otherwise'),
  SECRETS_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded (e.g. openssl rand -base64 32)')
    .optional()
    .describe('Key that encrypts connector secrets at rest (AES-256-GCM); required with DATABASE_URL, generated under DATA_DIR otherwise'),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600).describe('Lifetime of an OAuth access token, in seconds'),
  ONEROSTER_MAX_LIMIT: z.coerce.number().int().min(1).max(100_000).default(10_000).describe('Largest page a OneRoster collection returns; larger limits are clamped to it'),
  ONEROSTER_JSON_CACHE_MB: z.coerce.number().int().min(0).max(65_536).default(64).describe('Memory for OneRoster JSON as served, kept by etag between requests (0: none; the database keeps its own copy)'),
  EDFI_JSON_CACHE_MB: z.coerce.number().int().min(0).max(65_536).default(64).describe('Memory for Ed-Fi items as served, kept by etag between requests (0: none)'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info').describe('Minimum level of the JSON logs'),
  SYNC_BATCH_SIZE: z.coerce.number().int().min(1).max(50_000).default(10_000).describe('Records per reconcile batch'),
  SYNC_HOLD_SHARE: share
    .default(0.3)
    .describe('A bulk run that would tombstone more than this share of one entity of a source is held for approval'),
  RUN_RETENTION_DAYS: z.coerce.number().int().min(1).default(90).describe('Finished sync runs and their issues are deleted after this many days'),
  CSV_MAX_ENTRIES: z.coerce.number().int().min(1).default(64).describe('Most files a CSV package (zip or folder) may hold'),
  CSV_MAX_FILE_BYTES: bytes.default(2 * GiB).describe('Largest uncompressed file in a CSV package, in bytes'),
  CSV_MAX_TOTAL_BYTES: bytes.default(8 * GiB).describe('Largest uncompressed CSV package, in bytes (all files together)'),
  IMPORT_MAX_UPLOAD_BYTES: bytes.default(GiB).describe('Largest upload POST /admin/imports accepts, in bytes'),
  MAX_BODY_BYTES: bytes.default(1024 ** 2).describe('Largest request body of every other route, in bytes'),
  REQUEST_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(60).describe('API requests taking longer are answered 503 (exports and uploads excepted)'),
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(500).describe('Sustained API requests per second per client and process (0: no limit)'),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(2000).describe('API requests a client may send at once before the rate applies'),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(400).describe('Audit records are deleted after this many days'),
  TOMBSTONE_RETENTION_DAYS: z.coerce.number().int().min(1).default(180).describe('Tombstoned rows are purged after this many days (delta consumers must sync within it)'),
  TRUST_PROXY: z.stringbool().default(false).describe('Trust X-Forwarded-Proto/-For from a reverse proxy (set only behind one)'),
  CORS_ORIGINS: z.string().optional().describe('Comma-separated origins allowed to call the APIs from a browser (empty: CORS off)'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

/** Reads and validates the configuration; the error names every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = configSchema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, DATA_DIR: resolve(parsed.data.DATA_DIR) };
}

/** The CSV package limits of a configuration. */
export const packageLimits = (config: Config) => ({
  maxEntries: config.CSV_MAX_ENTRIES,
  maxFileBytes: config.CSV_MAX_FILE_BYTES,
  maxTotalBytes: config.CSV_MAX_TOTAL_BYTES,
});
