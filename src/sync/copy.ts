import { once } from 'node:events';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * PostgreSQL's COPY protocol for staging: the cheapest way to move rows into the server. Values
 * are written in COPY's text format, on a dedicated connection because the ORM's pool does not
 * expose COPY.
 */

/** One line of COPY text format: tab-separated, `\N` for null, arrays as `{…}`, objects as JSON. */
export function copyLine(values: readonly unknown[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) out += (i ? '\t' : '') + copyValue(values[i]);
  return `${out}\n`;
}

/** One value in COPY text format. */
export function copyValue(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'string') return escape(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
    return escape(`{${v.map((x) => `"${x.replace(/["\\]/g, '\\$&')}"`).join(',')}}`);
  }
  return escape(canonicalJson(v));
}

/**
 * JSON with object keys sorted: the same value always serialises (and so hashes) the same, however
 * its keys were ordered by the source or by PostgreSQL's jsonb on the way back.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const specials = /[\\\t\n\r]/g;
const replacements: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escape = (s: string) => (specials.test(s) ? s.replace(specials, (c) => replacements[c]!) : s);

/**
 * A dedicated connection, outside the ORM's pool: COPY for staging, session-level advisory locks
 * (a run holds its source's until the connection closes) and session temp tables.
 */
export class RunConnection {
  readonly #client: pg.Client;
  /** pg wants one statement at a time per client; staging writes overlap, so they queue here. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(client: pg.Client) {
    this.#client = client;
  }

  static async open(url: string) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return new RunConnection(client);
  }

  /** Takes the source's lock if free; false when another run of the source holds it. */
  async tryLockSource(sourceId: number): Promise<boolean> {
    const { rows } = await this.#client.query<{ locked: boolean }>('select pg_try_advisory_lock($1, $2) as locked', [SOURCE_LOCKS, sourceId]);
    return rows[0]!.locked;
  }

  async unlockSource(sourceId: number): Promise<void> {
    await this.#client.query('select pg_advisory_unlock($1, $2)', [SOURCE_LOCKS, sourceId]);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Streams `text` (COPY text lines) into `table (columns)`. */
  async copy(table: string, columns: readonly string[], text: string): Promise<void> {
    if (!text) return;
    await this.#serial(async () => {
      const stream = this.#client.query(copyFrom(`copy ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) from stdin`));
      const done = once(stream, 'finish');
      stream.end(text);
      await done;
    });
  }

  /** A query on this connection (its temp tables and session state are its own). */
  async query<R extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
    return this.#serial(async () => (await this.#client.query<R>(text, params)).rows);
  }

  async close() {
    await this.#client.end();
  }
}

/** Advisory-lock namespace of sync sources (first key of the two-key form). */
const SOURCE_LOCKS = 0x52470001;

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
