import { HttpClient, HttpError, linkNext, type HttpClientOptions } from '../../src/sync/http.ts';
import { bearerAuth, ReauthorizeError, UpstreamTokens, type TokenStore } from '../../src/sync/upstream-oauth.ts';
import { authorizationHeader, type OAuth1Credentials } from './oauth1.ts';

/**
 * A OneRoster REST provider (reference: oneroster.md §1): a service root such as
 * `…/ims/oneroster/rostering/v1p2` or `…/ims/oneroster/v1p1`; OAuth 2 client credentials (token URL
 * from the settings or the provider's discovery document; Basic or body client authentication), or
 * OAuth 1.0a HMAC-SHA1 signing for 1.1 providers that still require it. Collections are paged with
 * `limit`/`offset`, following `Link rel=next` where the provider sends it, `X-Total-Count` where it
 * sends that, and otherwise until a short page.
 */

export type Auth =
  | { kind: 'oauth2'; clientId: string; clientSecret: string; tokenUrl?: string; clientAuth: 'basic' | 'post'; scope?: string; tokens: TokenStore }
  | ({ kind: 'oauth1' } & OAuth1Credentials);

export interface OneRosterClientOptions {
  /** The service root, without a trailing slash. */
  baseUrl: string;
  auth: Auth;
  pageSize: number;
  signal?: AbortSignal;
  http?: Partial<HttpClientOptions>;
}

/** How a page came back when it did not follow the binding; told once per run by the caller. */
export type PageQuirk = 'missing_envelope' | 'relative_link';

export class OneRosterClient {
  readonly #base: string;
  readonly #options: OneRosterClientOptions;
  readonly #http: HttpClient;
  #tokens?: UpstreamTokens;
  /** Token requests made (for tests). */
  get tokenRequests() {
    return this.#tokens?.requests ?? 0;
  }

  constructor(options: OneRosterClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#options = options;
    this.#http = new HttpClient({
      ...options.http,
      baseUrl: this.#base,
      signal: options.signal,
      ...(options.auth.kind === 'oauth2' ? bearerAuth(() => this.#oauth2()) : {}),
    });
  }

  /** The token endpoint: the setting, else the provider's discovery document. */
  async #oauth2(): Promise<UpstreamTokens> {
    if (this.#tokens) return this.#tokens;
    const auth = this.#options.auth as Extract<Auth, { kind: 'oauth2' }>;
    const tokenEndpoint = auth.tokenUrl ?? (await this.discoverTokenUrl());
    const insecure = new URL(tokenEndpoint).protocol === 'http:';
    this.#tokens ??= new UpstreamTokens({
      tokenEndpoint, clientId: auth.clientId, clientSecret: auth.clientSecret, clientAuth: auth.clientAuth, scope: auth.scope,
      grant: 'client_credentials', store: auth.tokens, allowInsecure: insecure,
    });
    return this.#tokens;
  }

  /** The token URL a 1.2 provider publishes in its localized OpenAPI (reference §1.9). */
  async discoverTokenUrl(): Promise<string> {
    const url = `${this.#base}/discovery/onerosterv1p2rostersservice_openapi3_v1p0.json`;
    let doc: { components?: { securitySchemes?: Record<string, { flows?: { clientCredentials?: { tokenUrl?: string } } }> } };
    try {
      const response = await fetch(url, { headers: { accept: 'application/json' }, signal: this.#options.signal });
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      doc = (await response.json()) as typeof doc;
    } catch (error) {
      throw new Error(`no tokenUrl set and the provider's discovery document could not be read (${(error as Error).message}); set tokenUrl`, { cause: error });
    }
    const found = Object.values(doc.components?.securitySchemes ?? {}).map((s) => s.flows?.clientCredentials?.tokenUrl).find(Boolean);
    if (!found) throw new Error(`the provider's discovery document names no client-credentials token URL; set tokenUrl`);
    return new URL(found, url).toString();
  }

  /** The OAuth 1.0a signature of a request, when the provider wants one. */
  #signed(url: URL): Record<string, string> {
    const auth = this.#options.auth;
    return auth.kind === 'oauth1' ? { authorization: authorizationHeader('GET', url, auth) } : {};
  }

  async getJson(path: string, params: Record<string, string> = {}): Promise<unknown> {
    return (await this.#page(this.#url(path, params))).body;
  }

  /**
   * One page: the response and its parsed JSON. A 401 that a new token did not cure means the
   * credentials themselves are refused: a person must fix them.
   */
  async #page(url: URL): Promise<{ response: Response; body: unknown }> {
    try {
      return await this.#http.getPage(url, this.#signed(url));
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) {
        throw new ReauthorizeError(`the provider refused the ${this.#options.auth.kind === 'oauth1' ? 'OAuth 1.0a signature (consumer key or secret)' : 'access token its own token endpoint issued'}; check the credentials`, { cause: error });
      }
      throw error;
    }
  }

  #url(path: string, params: Record<string, string>): URL {
    const url = new URL(`${this.#base}${path}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url;
  }

  /**
   * A collection, page by page. `key` is the envelope (`users`); a provider that sends the bare
   * array is read all the same (`onQuirk`). A page that repeats the previous one means the provider
   * ignores `offset`: an error, not an endless run.
   */
  async *list(path: string, key: string, params: Record<string, string>, onQuirk: (quirk: PageQuirk) => void): AsyncGenerator<Record<string, unknown>[]> {
    const size = this.#options.pageSize;
    let offset = 0;
    let url: URL | null = this.#url(path, { ...params, limit: String(size), offset: '0' });
    const seen = new Set<string>();
    let previousFirst: unknown;
    // The next page is asked for while the caller works on this one: the provider renders and the
    // gateway stages at the same time.
    let ahead: Promise<{ response: Response; body: unknown }> | null = this.#page(url);
    while (url && ahead) {
      seen.add(url.toString());
      const { response, body }: { response: Response; body: unknown } = await ahead;
      let items: Record<string, unknown>[];
      if (Array.isArray(body)) {
        onQuirk('missing_envelope');
        items = body as Record<string, unknown>[];
      } else if (body && typeof body === 'object' && Array.isArray((body as Record<string, unknown>)[key])) {
        items = (body as Record<string, unknown[]>)[key] as Record<string, unknown>[];
      } else {
        throw new HttpError(response.status, url.toString(), `the answer has no "${key}" list: ${JSON.stringify(body).slice(0, 200)}`, response.headers);
      }
      if (items.length && previousFirst !== undefined && items[0]?.sourcedId === previousFirst) {
        throw new Error(`${path}: the page at offset ${offset} repeats the previous one; the provider ignores offset`);
      }
      previousFirst = items[0]?.sourcedId;
      offset += items.length;
      const next = linkNext(response);
      const total: number = Number(response.headers.get('x-total-count') ?? Number.NaN);
      if (next) {
        if (!/^https?:\/\//i.test(next)) onQuirk('relative_link');
        url = new URL(next, url);
      } else if (Number.isFinite(total)) {
        url = offset < total && items.length > 0 ? this.#url(path, { ...params, limit: String(size), offset: String(offset) }) : null;
      } else {
        // Neither Link nor X-Total-Count: a short page is the last.
        url = items.length >= size ? this.#url(path, { ...params, limit: String(size), offset: String(offset) }) : null;
      }
      if (url && seen.has(url.toString())) throw new Error(`paging of ${path} loops back to ${url}`);
      ahead = url ? this.#page(url) : null;
      // Not awaited until the loop comes back; a failure must not count as unhandled meanwhile.
      ahead?.catch(() => {});
      if (items.length) yield items;
    }
  }
}
