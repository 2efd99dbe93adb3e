import { HttpClient, HttpError, type HttpClientOptions } from '../../src/sync/http.ts';
import { ReauthorizeError, UpstreamTokens, type TokenStore } from '../../src/sync/upstream-oauth.ts';

/**
 * Brightspace Valence (reference: connectors.md §4, §6.1, §6.3): an OAuth 2.0 bearer token (refresh
 * tokens rotate and are single-use; the token store serialises refreshes), Learning Platform routes
 * under `/d2l/api/lp/{version}/`, two page shapes (`PagedResultSet {PagingInfo{Bookmark,HasMoreItems},
 * Items}` followed by `?bookmark=`, and `ObjectListPage {Objects, Next}`), credits per minute
 * (`X-Rate-Limit-Remaining`/`-Reset`, and 429 with `Retry-After`). A 403 (Problem Details when a
 * scope is missing) is a refusal of that listing, not of the run.
 */

export interface BrightspaceClientOptions {
  baseUrl: string;
  /** Learning Platform API version, e.g. `1.43`. */
  lpVersion: string;
  oauth: { tokenEndpoint: string; clientId: string; clientSecret: string; scope?: string; grant: 'refresh_token' | 'client_credentials'; tokens: TokenStore };
  signal?: AbortSignal;
  http?: Partial<HttpClientOptions>;
}

/** The app's token may not read this (a scope it lacks, a permission); the listing is skipped. */
export class BrightspaceRefusal extends Error {}

const isLocal = (url: URL) => url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);

export class BrightspaceClient {
  readonly #http: HttpClient;
  readonly #tokens: UpstreamTokens;
  readonly #lp: string;

  constructor(options: BrightspaceClientOptions) {
    this.#lp = `/d2l/api/lp/${options.lpVersion}/`;
    const { tokenEndpoint, clientId, clientSecret, scope, grant, tokens } = options.oauth;
    this.#tokens = new UpstreamTokens({
      tokenEndpoint, clientId, clientSecret, scope, grant, store: tokens, clientAuth: 'post', allowInsecure: isLocal(new URL(tokenEndpoint)),
    });
    this.#http = new HttpClient({
      baseUrl: options.baseUrl,
      headers: async () => ({ authorization: `Bearer ${await this.#tokens.accessToken()}` }),
      onUnauthorized: async () => {
        this.#tokens.invalidate();
        await this.#tokens.accessToken();
        return true;
      },
      // D2L's buckets hold thousands of credits and calls cost about 10: slow down only near the end.
      lowWater: 200,
      signal: options.signal,
      ...options.http,
    });
  }

  #url(path: string, params: Record<string, string> = {}) {
    const url = new URL(path.startsWith('/d2l/') ? path : `${this.#lp}${path}`, 'http://x');
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return `${url.pathname}${url.search}`;
  }

  /** One object or a bare array (`users/whoami`, `organization/info`, `outypes/`, `roles/`, `{ou}/sections/`). */
  async get<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    return this.#translate(() => this.#http.getJson<T>(this.#url(path, params)));
  }

  /**
   * The pages of a paged listing, either shape. A PagedResultSet goes on with `?bookmark=` while
   * `HasMoreItems` says so; a bookmark seen twice is a loop, and more than three empty pages in a
   * row that still claim more are a server going nowhere: both are errors, so the listing counts as
   * incomplete rather than ending early and tombstoning what was never read. An ObjectListPage
   * follows `Next` (same origin only).
   */
  async *pages<T>(path: string, params: Record<string, string> = {}): AsyncGenerator<T[]> {
    const first = this.#url(path, params);
    let empty = 0;
    const listing = this.#http.pages<PagedBody<T>>(first, (_response, body) => {
      if (isObjectList(body)) return body.Next ?? null;
      if (!body.PagingInfo?.HasMoreItems) return null;
      empty = body.Items?.length ? 0 : empty + 1;
      if (empty > 3) throw new Error(`${path} keeps answering empty pages that claim more items`);
      const bookmark = body.PagingInfo.Bookmark;
      if (bookmark === null || bookmark === undefined || bookmark === '') throw new Error(`${path} claims more items but gives no bookmark`);
      return this.#url(path, { ...params, bookmark: String(bookmark) });
    });
    for (;;) {
      const next = await this.#translate(() => listing.next());
      if (next.done) return;
      const body = next.value;
      const items = isObjectList(body) ? body.Objects : body.Items;
      if (!Array.isArray(items)) throw new Error(`${path} answered something that is not a page of items`);
      yield items;
    }
  }

  async #translate<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      if (error.status === 403) throw new BrightspaceRefusal(`Brightspace refused ${new URL(error.url).pathname} (403${problemText(error.body)}); the app may lack the scope or permission`);
      if (error.status === 401) throw new ReauthorizeError('Brightspace refused the access token even after a refresh; authorise the source again', { cause: error });
      throw error;
    }
  }
}

type PagedBody<T> = { PagingInfo?: { Bookmark?: string | number | null; HasMoreItems?: boolean }; Items?: T[] } | { Objects: T[]; Next?: string | null };
const isObjectList = <T>(body: PagedBody<T>): body is { Objects: T[]; Next?: string | null } => 'Objects' in body;

/** `: title — detail` of a Problem Details body, or nothing. */
function problemText(body: string): string {
  try {
    const problem = JSON.parse(body) as { title?: string; detail?: string };
    const text = [problem.title, problem.detail].filter(Boolean).join(' — ');
    return text ? `: ${text}` : '';
  } catch {
    return '';
  }
}
