import { HttpClient, HttpError, type HttpClientOptions } from '../../src/sync/http.ts';
import { ReauthorizeError } from '../../src/sync/upstream-oauth.ts';

/**
 * Kolibri REST (reference: connectors.md §3, §6.1, §6.3). A facility-admin service account logs in
 * with `POST api/auth/session/`; the `kolibri` session cookie and the `kolibri_csrftoken` cookie are
 * kept for the run and sent with every request (the CSRF token also as `X-CSRFToken` when logging
 * out). Every path is relative to the base URL, so a deployment's path prefix (`/kolibri/`) is kept.
 *
 * Kolibri's trap: a session that expired (20 minutes idle) is anonymous, and an anonymous user may
 * read nothing, so lists answer `200 []` instead of an error. An empty list is therefore only
 * believed after the session is verified (`GET api/auth/session/current/`, kind admin or
 * superuser); a dead session is renewed and the list read again. A 401/403 also renews the session
 * once before giving up.
 */

export interface KolibriClientOptions {
  baseUrl: string;
  username: string;
  password: string;
  /** The service account's facility (Kolibri logs users in per facility). */
  facilityId: string;
  signal?: AbortSignal;
  http?: Partial<HttpClientOptions>;
}

export interface KolibriSession { user_id: string | null; username: string; kind: string[]; facility_id?: string }

/** The account may log in but not read the roster (not a facility admin or superuser). */
export class KolibriAccessError extends Error {}

const PAGE_SIZE = 500;

export class KolibriClient {
  readonly #o: KolibriClientOptions;
  readonly #http: HttpClient;
  readonly #base: URL;
  #cookies = new Map<string, string>();
  /** Logins this run: the first, and every renewal of an expired session. */
  logins = 0;

  constructor(options: KolibriClientOptions) {
    this.#o = options;
    this.#base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.#http = new HttpClient({
      baseUrl: this.#base.toString(),
      headers: () => ({ cookie: this.#cookieHeader() }),
      unauthenticated: (response) => response.status === 401 || response.status === 403,
      onUnauthorized: async () => {
        await this.login();
        return true;
      },
      signal: options.signal,
      ...options.http,
    });
  }

  #cookieHeader() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  #url(path: string, params: Record<string, string> = {}) {
    const url = new URL(path.replace(/^\//, ''), this.#base);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url;
  }

  /** Logs the service account in; credentials Kolibri refuses need a person (ReauthorizeError). */
  async login(): Promise<void> {
    this.#cookies.clear();
    const url = this.#url('api/auth/session/');
    let response: Response | undefined;
    // Kolibri answers 503 while its database is busy; a login is retried like any request.
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetch(url, {
          method: 'POST', redirect: 'manual',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ username: this.#o.username, password: this.#o.password, facility: this.#o.facilityId }),
          signal: this.#o.signal ? AbortSignal.any([this.#o.signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000),
        });
      } catch (error) {
        if (this.#o.signal?.aborted || attempt >= 3) throw error;
      }
      if (response && response.status < 500) break;
      if (attempt >= 3) break;
      await (this.#o.http?.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms))))(500 * 2 ** attempt, this.#o.signal);
    }
    const body = await response!.text();
    if (response!.status === 401 || response!.status === 400) {
      const code = /"id"\s*:\s*"([A-Z_]+)"/.exec(body)?.[1] ?? `HTTP ${response!.status}`;
      throw new ReauthorizeError(`Kolibri refused the service account ${this.#o.username} of facility ${this.#o.facilityId} (${code}); check its username, password and facility`);
    }
    if (!response!.ok) throw new HttpError(response!.status, url.toString(), body, response!.headers);
    for (const cookie of response!.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      if (eq > 0) this.#cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    if (!this.#cookies.has('kolibri')) throw new Error('Kolibri accepted the login but set no session cookie');
    this.logins++;
  }

  /** Whether the session is alive; throws if it is alive but may not read the roster. */
  async verify(): Promise<boolean> {
    const session = await this.#http.getJson<KolibriSession>(this.#url('api/auth/session/current/'));
    const kind = Array.isArray(session.kind) ? session.kind : [];
    if (kind.includes('admin') || kind.includes('superuser')) return true;
    if (kind.length === 0 || kind.includes('anonymous')) return false;
    throw new KolibriAccessError(`the service account ${this.#o.username} is ${kind.join(', ')}; it must be a facility admin or a superuser to read the roster`);
  }

  /** Logs in (again) unless the session is alive; throws if even a fresh one is not. */
  async ensureSession(): Promise<void> {
    if (this.#cookies.size && (await this.verify())) return;
    await this.login();
    if (!(await this.verify())) throw new Error('Kolibri does not keep the session it just gave (check the base URL and its path prefix)');
  }

  /**
   * An unpaged list (facilities, classrooms, memberships, learner groups). An empty one is believed
   * only with a verified session; otherwise the session is renewed and the list read again.
   */
  async list<T>(path: string, params: Record<string, string> = {}): Promise<T[]> {
    const read = async () => {
      const body = await this.#http.getJson<unknown>(this.#url(path, params));
      return (Array.isArray(body) ? body : (body as { results?: unknown[] }).results ?? []) as T[];
    };
    const items = await read();
    if (items.length) return items;
    if (await this.verify()) return items;
    await this.ensureSession();
    return read();
  }

  /**
   * Facility users, a page at a time (`page_size`/`page` until `total_pages`; an unpaged array from
   * servers that ignore paging). A page past the end (404), or a count that moved while paging,
   * means users changed under the listing: it is read again from the start, once; after that it
   * throws, so the run ends incomplete instead of tombstoning users it skipped.
   */
  async *users<T>(facilityId: string): AsyncGenerator<T[]> {
    for (let attempt = 0; ; attempt++) {
      const pages: T[][] = [];
      let count: number | undefined;
      let moved = false;
      for (let page = 1; ; page++) {
        let body: unknown;
        try {
          body = await this.#http.getJson<unknown>(this.#url('api/auth/facilityuser/', { member_of: facilityId, page_size: String(PAGE_SIZE), page: String(page) }));
        } catch (error) {
          if (error instanceof HttpError && error.status === 404 && page > 1) {
            moved = true;
            break;
          }
          throw error;
        }
        if (Array.isArray(body)) {
          pages.push(body as T[]);
          break;
        }
        const paged = body as { count?: number; total_pages?: number; results?: T[] };
        if (count !== undefined && paged.count !== count) {
          moved = true;
          break;
        }
        count = paged.count;
        pages.push(paged.results ?? []);
        if (page >= (paged.total_pages ?? 1)) break;
      }
      if (!moved) {
        if (pages.every((p) => p.length === 0) && !(await this.verify())) {
          await this.ensureSession();
          if (attempt === 0) continue;
        }
        yield* pages;
        return;
      }
      if (attempt >= 1) throw new Error(`the users of facility ${facilityId} kept changing while they were listed; the listing is incomplete`);
    }
  }

  /** Ends the session (best effort): a logout is an unsafe method, so it carries the CSRF token. */
  async logout(): Promise<void> {
    if (!this.#cookies.has('kolibri')) return;
    await fetch(this.#url('api/auth/session/current/'), {
      method: 'DELETE',
      headers: { cookie: this.#cookieHeader(), 'x-csrftoken': this.#cookies.get('kolibri_csrftoken') ?? '', referer: this.#base.toString() },
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    this.#cookies.clear();
  }
}
