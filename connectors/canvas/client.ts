import { HttpClient, HttpError, linkNext, type HttpClientOptions } from '../../src/sync/http.ts';
import { ReauthorizeError, UpstreamTokens, type TokenStore } from '../../src/sync/upstream-oauth.ts';

/**
 * Canvas REST (reference: connectors.md §2, §6.1, §6.3): a bearer token, either fixed or refreshed
 * through Canvas's OAuth2 token endpoint; every id as a string; `per_page=100`; `Link rel=next`
 * followed and nothing else; one request at a time (Canvas's throttle charges parallel requests up
 * front). Canvas answers in three ways that look alike and mean different things:
 * - 401 with `WWW-Authenticate`: the token expired or was revoked. Refreshed once; if that does not
 *   help, or there is nothing to refresh with, the source needs a person (ReauthorizeError);
 * - 401/403 with `{"status":"unauthorized"}` or "not authorized": this token may not read that
 *   account or course (CanvasPermissionError); the caller skips the scope;
 * - 403 `Rate Limit Exceeded` (or 429): slow down and try again (the shared client does).
 */

export interface CanvasClientOptions {
  baseUrl: string;
  accessToken?: string;
  /** A developer key; the refresh token and the access tokens it gets live in `tokens`. */
  oauth?: { clientId: string; clientSecret: string; tokens: TokenStore };
  signal?: AbortSignal;
  http?: Partial<HttpClientOptions>;
}

/** This token may not read the scope (an account, a course); the rest of the run goes on. */
export class CanvasPermissionError extends Error {
  readonly url: string;
  constructor(url: string, message: string) {
    super(message);
    this.url = url;
  }
}

const PER_PAGE = '100';

/** Canvas ids are 64-bit: keep every id, and every `…_id`, as its exact digits even if sent as a number. */
function exactIds(key: string, value: unknown, context: { source?: string }) {
  return typeof value === 'number' && (key === 'id' || key.endsWith('_id')) && context.source ? context.source : value;
}

function isThrottle(response: Response, body: string) {
  const remaining = response.headers.get('x-rate-limit-remaining');
  return response.status === 403 && (/rate limit exceeded/i.test(body) || (remaining !== null && Number(remaining) <= 0));
}

/** Whether a refusal is about permissions (skip the scope) rather than the token. */
function permissionRefusal(error: HttpError): boolean {
  if (error.status !== 401 && error.status !== 403) return false;
  if (error.status === 401 && error.headers.has('www-authenticate')) return false;
  return /"status"\s*:\s*"unauthorized"|not authorized/i.test(error.body);
}

export class CanvasClient {
  readonly #http: HttpClient;
  readonly #tokens?: UpstreamTokens;
  readonly #fixed?: string;

  constructor(options: CanvasClientOptions) {
    const base = new URL(options.baseUrl);
    if (options.oauth) {
      const { clientId, clientSecret, tokens } = options.oauth;
      this.#tokens = new UpstreamTokens({
        tokenEndpoint: new URL('/login/oauth2/token', base).toString(), clientId, clientSecret, clientAuth: 'post',
        grant: 'refresh_token', store: tokens, allowInsecure: base.protocol === 'http:',
      });
    } else {
      this.#fixed = options.accessToken;
    }
    this.#http = new HttpClient({
      baseUrl: base.toString(),
      headers: async () => ({
        authorization: `Bearer ${this.#tokens ? await this.#tokens.accessToken() : this.#fixed}`,
        accept: 'application/json+canvas-string-ids, application/json',
      }),
      onUnauthorized: async (response) => {
        // Without WWW-Authenticate a 401 is about permissions, which a new token does not change.
        if (!response.headers.has('www-authenticate') || !this.#tokens) return false;
        this.#tokens.invalidate();
        await this.#tokens.accessToken();
        return true;
      },
      isThrottle,
      reviver: exactIds,
      signal: options.signal,
      ...options.http,
    });
  }

  /** One object (`/api/v1/accounts/1`). */
  async get<T>(path: string, params: Record<string, string | string[]> = {}): Promise<T> {
    return this.#translate(() => this.#http.getJson<T>(withParams(path, params)));
  }

  /**
   * The pages of a listing, `per_page=100`, following `rel=next` only (Canvas may leave `last` out,
   * and some listings page by bookmark). `unwrap` takes the list out of a wrapped page (terms).
   */
  async *list<T>(path: string, params: Record<string, string | string[]> = {}, unwrap?: (page: unknown) => T[]): AsyncGenerator<T[]> {
    const pages = this.#http.pages<unknown>(withParams(path, { ...params, per_page: PER_PAGE }), (response) => linkNext(response));
    for (;;) {
      const next = await this.#translate(() => pages.next());
      if (next.done) return;
      const page = unwrap ? unwrap(next.value) : next.value;
      if (!Array.isArray(page)) throw new Error(`${path} answered something other than a list`);
      yield page as T[];
    }
  }

  async #translate<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      if (permissionRefusal(error)) throw new CanvasPermissionError(error.url, `this token may not read ${new URL(error.url).pathname} (Canvas answered ${error.status}: user not authorized)`);
      if (error.status === 401) {
        throw new ReauthorizeError(this.#tokens
          ? 'Canvas refused the access token even after a refresh; authorise the source again'
          : 'Canvas refused the access token (expired or revoked); give the source a new token', { cause: error });
      }
      throw error;
    }
  }
}

function withParams(path: string, params: Record<string, string | string[]>): string {
  const url = new URL(path, 'http://x');
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
  }
  return `${url.pathname}${url.search}`;
}
