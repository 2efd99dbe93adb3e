import { HttpClient, HttpError, type HttpClientOptions } from '../../src/sync/http.ts';
import { bearerAuth, ReauthorizeError, UpstreamTokens, type TokenStore } from '../../src/sync/upstream-oauth.ts';

/**
 * An Ed-Fi API (reference: edfi.md §2): ODS/API (`…/data/v3/ed-fi/<resource>`, token at
 * `/oauth/token`) or the Data Management Service (`…/data/ed-fi/<resource>`, token at the
 * configuration service's `/connect/token`); URLs from the API's discovery document where it has
 * one. OAuth 2 client credentials; collections paged with `limit`/`offset` and `totalCount`, or with
 * the `Next-Page-Token` cursor where the API offers it; change queries (`availableChangeVersions`,
 * change-version windows, `/deletes`, `/keyChanges`).
 */

export type Doc = Record<string, any>;

export interface EdfiClientOptions {
  /** The API root: where the discovery document is (`https://host/api`, `https://host/v7.3/api`). */
  baseUrl: string;
  style?: 'ods' | 'dms';
  tokenUrl?: string;
  clientId: string;
  clientSecret: string;
  clientAuth: 'basic' | 'post';
  /** An education organization id the token is narrowed to. */
  scope?: string;
  tokens: TokenStore;
  pageSize: number;
  /** `auto`: follow Next-Page-Token where the API sends it, else limit/offset. */
  paging: 'auto' | 'offset';
  /** Partitions of a full listing read at once, where the API offers `/partitions` (1: one reader). */
  readers: number;
  signal?: AbortSignal;
  http?: Partial<HttpClientOptions>;
}

/** A change-version window (inclusive), as change queries take it. */
export interface Window { min: number; max: number }

interface Endpoints { data: string; oauth: string; changeQueries: string }

export class EdfiClient {
  readonly #base: string;
  readonly #options: EdfiClientOptions;
  readonly #http: HttpClient;
  #endpoints?: Promise<Endpoints>;
  /** False once the API has answered that it has no /partitions. */
  #partitions = true;
  #tokens?: UpstreamTokens;
  /** Token requests made (for tests). */
  get tokenRequests() {
    return this.#tokens?.requests ?? 0;
  }

  constructor(options: EdfiClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#options = options;
    this.#http = new HttpClient({
      ...options.http,
      baseUrl: this.#base,
      signal: options.signal,
      ...bearerAuth(() => this.#oauth()),
    });
  }

  /** Where the data, token and change-query endpoints are: the settings, else the discovery document, else the style's defaults. */
  endpoints(): Promise<Endpoints> {
    this.#endpoints ??= this.#discover().catch((error) => {
      this.#endpoints = undefined;
      throw error;
    });
    return this.#endpoints;
  }

  async #discover(): Promise<Endpoints> {
    let urls: Record<string, string> = {};
    try {
      const response = await fetch(`${this.#base}/`, { headers: { accept: 'application/json' }, signal: this.#options.signal });
      if (response.ok) urls = ((await response.json()) as { urls?: Record<string, string> }).urls ?? {};
    } catch {
      // No discovery document: the style's defaults.
    }
    const dms = this.#options.style === 'dms';
    const data = urls.dataManagementApi ?? `${this.#base}/${dms ? 'data' : 'data/v3'}`;
    const oauth = this.#options.tokenUrl ?? urls.oauth ?? `${this.#base}/${dms ? 'connect/token' : 'oauth/token'}`;
    const changeQueries = urls.changeQueries ?? `${this.#base}/changeQueries/v1`;
    const trim = (u: string) => new URL(u, `${this.#base}/`).toString().replace(/\/+$/, '');
    return { data: trim(data), oauth: trim(oauth), changeQueries: trim(changeQueries) };
  }

  async #oauth(): Promise<UpstreamTokens> {
    if (this.#tokens) return this.#tokens;
    const { oauth } = await this.endpoints();
    const o = this.#options;
    this.#tokens ??= new UpstreamTokens({
      tokenEndpoint: oauth, clientId: o.clientId, clientSecret: o.clientSecret, clientAuth: o.clientAuth, scope: o.scope,
      grant: 'client_credentials', store: o.tokens, allowInsecure: new URL(oauth).protocol === 'http:',
    });
    return this.#tokens;
  }

  /** A GET's JSON; a 401 that a new token did not cure means the credentials themselves are refused: a person must fix them. */
  async #json(url: URL): Promise<{ response: Response; body: unknown }> {
    try {
      return await this.#http.getPage(url);
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) {
        throw new ReauthorizeError('the Ed-Fi API refused the access token its own token endpoint issued; check the key and secret', { cause: error });
      }
      throw error;
    }
  }

  async #url(path: string, params: Record<string, string | number>): Promise<URL> {
    const url = new URL(`${(await this.endpoints()).data}/ed-fi/${path}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
    return url;
  }

  /** The newest change version, `oldestChangeVersion` too. */
  async changeVersions(): Promise<{ oldest: number; newest: number }> {
    const { changeQueries } = await this.endpoints();
    const { body } = await this.#json(new URL(`${changeQueries}/availableChangeVersions`));
    const b = body as { oldestChangeVersion?: unknown; newestChangeVersion?: unknown };
    const newest = Number(b.newestChangeVersion);
    if (!Number.isFinite(newest)) throw new Error(`availableChangeVersions answered without a newestChangeVersion: ${JSON.stringify(body).slice(0, 200)}`);
    return { oldest: Number(b.oldestChangeVersion ?? 0), newest };
  }

  /**
   * Items of a resource (optionally changed within a window, or matching `example`), page by page. A
   * whole listing is read in partitions at once where the API offers them; its pages then come as they
   * arrive, or (`ordered`) in the listing's own order, later partitions held until earlier ones end.
   */
  list(resource: string, options: { window?: Window; example?: Record<string, string | number>; ordered?: boolean } = {}): AsyncGenerator<Doc[]> {
    const params = { ...options.example, ...windowParams(options.window) };
    // Cursor paging does not take a change window on every API (DMS: use /partitions), so windows page by offset.
    const cursor = this.#options.paging === 'auto' && !options.window;
    if (cursor && !options.example && this.#options.readers > 1 && this.#partitions) return this.#partitioned(resource, options.ordered ?? false);
    return this.#pages(resource, params, cursor);
  }

  /** A listing read by several readers, one per partition (GET …/partitions); without partitions, as one. */
  async *#partitioned(resource: string, ordered: boolean): AsyncGenerator<Doc[]> {
    let tokens: string[] | undefined;
    try {
      const { body } = await this.#json(await this.#url(`${resource}/partitions`, { number: this.#options.readers }));
      const found = (body as { pageTokens?: unknown }).pageTokens;
      if (Array.isArray(found) && found.every((t) => typeof t === 'string')) tokens = found as string[];
    } catch (error) {
      // 404 (no such route), 400 (taken for an id or a bad parameter), 405: an API without partitions.
      if (!(error instanceof HttpError && [400, 404, 405].includes(error.status))) throw error;
    }
    if (!tokens) {
      // Read as one; once the listing itself answers, the API is known to have no partitions (a resource it
      // does not have answers 404 either way).
      for await (const page of this.#pages(resource, {}, true)) {
        this.#partitions = false;
        yield page;
      }
      return;
    }
    const readers = tokens.map((token) => this.#pages(resource, {}, true, token));
    yield* ordered ? inOrder(readers) : merged(readers);
  }

  /** Items deleted within the window: `{id, changeVersion, keyValues}`. */
  deletes(resource: string, window: Window): AsyncGenerator<Doc[]> {
    return this.#pages(`${resource}/deletes`, windowParams(window), false);
  }

  /** Items whose key changed within the window: `{id, changeVersion, oldKeyValues, newKeyValues}`. */
  keyChanges(resource: string, window: Window): AsyncGenerator<Doc[]> {
    return this.#pages(`${resource}/keyChanges`, windowParams(window), false);
  }

  /**
   * Pages: limit/offset with totalCount (a short page ends it where the API sends no Total-Count),
   * switching to the cursor once the API offers one (Next-Page-Token), which is followed until the
   * header is absent: a page can come back empty while more follow (items deleted meanwhile). `from`:
   * a page token to start at (a partition's).
   */
  async *#pages(path: string, params: Record<string, string | number>, cursor: boolean, from?: string): AsyncGenerator<Doc[]> {
    const size = this.#options.pageSize;
    let offset = 0;
    let url: URL | null = await this.#url(path, from ? { ...params, pageToken: from, pageSize: size } : { ...params, limit: size, offset: 0, totalCount: 'true' });
    const seen = new Set<string>();
    let total = Number.NaN;
    // The next page is asked for while the caller maps this one.
    let ahead: Promise<{ response: Response; body: unknown }> | null = this.#json(url);
    while (url && ahead) {
      seen.add(url.toString());
      const { response, body } = await ahead;
      if (!Array.isArray(body)) throw new HttpError(response.status, url.toString(), `expected a JSON array: ${JSON.stringify(body).slice(0, 200)}`, response.headers);
      const items = body as Doc[];
      offset += items.length;
      const token = cursor ? response.headers.get('next-page-token') : null;
      total = Number(response.headers.get('total-count') ?? total);
      if (token) {
        url = await this.#url(path, { ...params, pageToken: token, pageSize: size });
      } else if (url.searchParams.has('pageToken')) {
        url = null;
      } else {
        const more = items.length > 0 && (Number.isFinite(total) ? offset < total : items.length >= size);
        url = more ? await this.#url(path, { ...params, limit: size, offset }) : null;
      }
      if (url && seen.has(url.toString())) throw new Error(`paging of ${path} loops back to ${url}`);
      ahead = url ? this.#json(url) : null;
      // Not awaited until the loop comes back; a failure must not count as unhandled meanwhile.
      ahead?.catch(() => {});
      if (items.length) yield items;
    }
  }
}

/** The items of several generators as they come; the first failure ends all of them. */
async function* merged<T>(sources: AsyncGenerator<T>[]): AsyncGenerator<T> {
  const next = (i: number) => {
    const p = sources[i]!.next().then((result) => ({ i, result }));
    // Raced, not always awaited: a failure must not count as unhandled meanwhile.
    p.catch(() => {});
    return p;
  };
  const pending = new Map(sources.map((_, i) => [i, next(i)]));
  try {
    while (pending.size) {
      const { i, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i));
      yield result.value;
    }
  } finally {
    await Promise.allSettled(sources.map((s) => s.return(undefined)));
  }
}

/**
 * The items of several generators, all read at once, in the generators' order: what a later one reads
 * is held until the earlier ones end. The first failure ends all of them.
 */
async function* inOrder<T>(sources: AsyncGenerator<T>[]): AsyncGenerator<T> {
  const held: T[][] = sources.map(() => []);
  const ended = sources.map(() => false);
  let failure: { error: unknown } | undefined;
  let wake = () => {};
  const pumps = sources.map(async (source, i) => {
    try {
      for await (const item of source) {
        held[i]!.push(item);
        wake();
      }
    } catch (error) {
      failure ??= { error };
    } finally {
      ended[i] = true;
      wake();
    }
  });
  try {
    for (let i = 0; i < sources.length; i++) {
      for (;;) {
        if (failure) throw failure.error;
        if (held[i]!.length) yield held[i]!.shift()!;
        else if (ended[i]) break;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    }
  } finally {
    await Promise.allSettled(sources.map((s) => s.return(undefined)));
    await Promise.allSettled(pumps);
  }
}

const windowParams = (window?: Window): Record<string, number> => (window ? { minChangeVersion: window.min, maxChangeVersion: window.max } : {});
