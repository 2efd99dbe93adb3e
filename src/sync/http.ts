/**
 * The HTTP client connectors share (reference: connectors.md §6.3). Every GET gets a timeout and is
 * retried on network errors, 5xx and throttling with capped exponential backoff and jitter, waiting
 * at least what `Retry-After` asks; throttle signals (429, Canvas's 403 "Rate Limit Exceeded", a low
 * `X-Rate-Limit-Remaining`) also slow the following requests down. Credentials only ever go to the
 * configured origin. Paging helpers stop on a repeated page (a loop) and never follow another origin.
 */

export class HttpError extends Error {
  readonly status: number;
  readonly url: string;
  readonly body: string;
  readonly headers: Headers;
  constructor(status: number, url: string, body: string, headers: Headers = new Headers()) {
    super(`GET ${url} answered ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
    this.status = status;
    this.url = url;
    this.body = body;
    this.headers = headers;
  }
}

export interface HttpClientOptions {
  /** The origin credentials belong to; requests elsewhere are refused. */
  baseUrl: string;
  /** Headers that authenticate a request (a bearer token, say); asked before every attempt. */
  headers?: () => Promise<Record<string, string>> | Record<string, string>;
  /** Called once per request on a 401 (or what `unauthenticated` says is one); return true to retry (credentials refreshed). */
  onUnauthorized?: (response: Response) => Promise<boolean>;
  /** Whether an answer means "log in again" (default: a 401); Kolibri answers 403 once its session idled out. */
  unauthenticated?: (response: Response, body: string) => boolean;
  /** A response that means "slow down" although it is not a 429 (Canvas's 403 Rate Limit Exceeded). */
  isThrottle?: (response: Response, body: string) => boolean;
  timeoutMs?: number;
  /** Attempts after the first. */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Below this X-Rate-Limit-Remaining the client pauses between requests. */
  lowWater?: number;
  signal?: AbortSignal;
  /** Turns parsed JSON values into what the caller wants; gets the value's source text (ids above 2^53 stay exact). */
  reviver?: (key: string, value: unknown, context: { source?: string }) => unknown;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** No compression from a server on this machine (another gateway): it costs both sides CPU and saves nothing on a loopback link. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const IDENTITY = { 'accept-encoding': 'identity' };

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    }, { once: true });
  });

export class HttpClient {
  readonly #options: Required<Omit<HttpClientOptions, 'headers' | 'onUnauthorized' | 'unauthenticated' | 'isThrottle' | 'signal' | 'reviver'>> & HttpClientOptions;
  readonly #origin: string;
  /** Extra wait before the next request, raised by throttle signals. */
  #pace = 0;
  /** No request before this time (epoch ms): the server's budget refills then. */
  #resumeAt = 0;

  constructor(options: HttpClientOptions) {
    this.#options = { timeoutMs: 30_000, retries: 4, baseDelayMs: 500, maxDelayMs: 30_000, lowWater: 100, sleep: defaultSleep, ...options };
    this.#origin = new URL(options.baseUrl).origin;
  }

  #url(url: string | URL): URL {
    const resolved = new URL(url, this.#options.baseUrl);
    if (resolved.origin !== this.#origin) throw new Error(`refusing to send credentials to ${resolved.origin}; this source is ${this.#origin}`);
    return resolved;
  }

  #backoff(attempt: number, retryAfter: string | null): number {
    const exponential = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** attempt);
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    const asked = retryAfter === null ? 0 : /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : Math.max(0, Date.parse(retryAfter) - Date.now());
    return Math.max(jittered, Number.isFinite(asked) ? Math.min(asked, 5 * 60_000) : 0);
  }

  /** GET with retries; resolves with a 2xx response, or throws HttpError / the network error. */
  async get(url: string | URL, headers: Record<string, string> = {}): Promise<Response> {
    const target = this.#url(url);
    const { sleep, signal } = this.#options;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (this.#pace) await sleep(this.#pace, signal);
      if (this.#resumeAt > Date.now()) await sleep(this.#resumeAt - Date.now(), signal);
      this.#resumeAt = 0;
      let response: Response;
      // Outside the retry: credentials that cannot be had (a refused refresh token) are not a network error.
      const auth = await this.#options.headers?.();
      try {
        const timeout = AbortSignal.timeout(this.#options.timeoutMs);
        response = await fetch(target, {
          headers: { accept: 'application/json', ...(LOOPBACK.has(target.hostname) ? IDENTITY : {}), ...auth, ...headers },
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          redirect: 'manual',
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        if (attempt >= this.#options.retries) throw error;
        await sleep(this.#backoff(attempt, null), signal);
        continue;
      }
      this.#adjustPace(response);
      if (response.ok) return response;
      const body = await response.text().catch(() => '');
      const unauthenticated = this.#options.unauthenticated?.(response, body) ?? response.status === 401;
      if (unauthenticated && !refreshed && this.#options.onUnauthorized) {
        refreshed = true;
        if (await this.#options.onUnauthorized(response)) continue;
      }
      const throttled = response.status === 429 || (this.#options.isThrottle?.(response, body) ?? false);
      const transient = throttled || response.status >= 500 || response.status === 408;
      if (!transient || attempt >= this.#options.retries) throw new HttpError(response.status, target.toString(), body, response.headers);
      if (throttled) this.#pace = Math.min(this.#options.maxDelayMs, Math.max(this.#pace * 2, this.#options.baseDelayMs));
      await sleep(this.#backoff(attempt, response.headers.get('retry-after')), signal);
    }
  }

  /**
   * Slows down while the server says the budget is low, and speeds up again when it recovers. A
   * server that says when its budget refills (`X-Rate-Limit-Reset`, seconds: Brightspace) is simply
   * not asked again before then once the budget runs low.
   */
  #adjustPace(response: Response) {
    const remaining = Number(response.headers.get('x-rate-limit-remaining') ?? Number.NaN);
    const reset = Number(response.headers.get('x-rate-limit-reset') ?? Number.NaN);
    if (Number.isFinite(remaining) && remaining < this.#options.lowWater && Number.isFinite(reset) && reset > 0) {
      this.#resumeAt = Date.now() + Math.min(reset * 1000, 5 * 60_000);
      return;
    }
    if (Number.isFinite(remaining) && remaining < this.#options.lowWater) {
      this.#pace = Math.min(this.#options.maxDelayMs, Math.max(this.#pace, this.#options.baseDelayMs) * (remaining <= 1 ? 4 : 1.5));
    } else if (response.ok && this.#pace) {
      this.#pace = this.#pace < 10 ? 0 : this.#pace / 2;
    }
  }

  async getJson<T = unknown>(url: string | URL, headers: Record<string, string> = {}): Promise<T> {
    return (await this.getPage<T>(url, headers)).body;
  }

  /** A GET's JSON with its response (for the paging headers). */
  async getPage<T = unknown>(url: string | URL, headers: Record<string, string> = {}): Promise<{ response: Response; body: T }> {
    const response = await this.get(url, headers);
    return { response, body: await jsonOf<T>(response, this.#options.reviver) };
  }

  /**
   * Pages of a listing: `next` reads the following page's URL off a response (null: the last one).
   * A page URL seen twice is a loop and an error, so a bad server cannot keep a run busy forever.
   */
  async *pages<T = unknown>(first: string | URL, next: (response: Response, body: T) => string | URL | null): AsyncGenerator<T> {
    const seen = new Set<string>();
    let url: string | URL | null = first;
    while (url !== null) {
      const target = this.#url(url);
      if (seen.has(target.toString())) throw new Error(`paging loops back to ${target}`);
      seen.add(target.toString());
      const response = await this.get(target);
      const body = await jsonOf<T>(response, this.#options.reviver);
      yield body;
      url = next(response, body);
    }
  }
}

/** A response's JSON body; an HTML error page or other non-JSON is an HttpError, not a parser crash. */
async function jsonOf<T>(response: Response, reviver?: HttpClientOptions['reviver']): Promise<T> {
  // Some servers (Canvas) guard JSON against hijacking with a `while(1);` prefix.
  const text = (await response.text()).replace(/^while\(1\);/, '');
  try {
    return JSON.parse(text, reviver as Parameters<typeof JSON.parse>[1]) as T;
  } catch {
    throw new HttpError(response.status, response.url, `not JSON: ${text.slice(0, 200)}`, response.headers);
  }
}

/** The `rel="next"` URL of an RFC 8288 Link header (case-insensitive, quoted or not, commas in URLs). */
export function linkNext(response: Response): string | null {
  const header = response.headers.get('link');
  if (!header) return null;
  for (const match of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g)) {
    const rels = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(match[2]!);
    const rel = (rels?.[1] ?? rels?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rel.includes('next')) return match[1]!;
  }
  return null;
}
