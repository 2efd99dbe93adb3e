import * as oauth from 'oauth4webapi';
import type { HttpClientOptions } from './http.ts';

/**
 * Access tokens a connector gets from its source's OAuth server (oauth4webapi): client credentials,
 * or a refresh token (which some servers, Brightspace's among them, rotate on every use: the old one
 * is spent). The token state lives in a TokenStore that serialises every refresh across processes
 * and stores what the refresh returned in the same transaction that makes it current, so two runs
 * (or two gateway processes) never spend the same refresh token: the second finds the access token
 * the first got and uses it. Within a process, concurrent callers also share one request.
 */

export interface TokenState {
  refreshToken?: string;
  accessToken?: string;
  /** Epoch milliseconds. */
  expiresAt?: number;
}

export interface TokenStore {
  /**
   * Runs `work` with the stored token state, exclusively (no other process runs it for the same
   * source meanwhile); a `state` it returns is stored before `exclusive` resolves.
   */
  exclusive<T>(work: (state: TokenState) => Promise<{ state?: TokenState; value: T }>): Promise<T>;
}

/** A store in this process's memory (tests, benchmarks, one-off tools). */
export function memoryTokenStore(initial: TokenState = {}): TokenStore & { state: TokenState } {
  let queue: Promise<unknown> = Promise.resolve();
  const store = {
    state: { ...initial },
    exclusive<T>(work: (state: TokenState) => Promise<{ state?: TokenState; value: T }>): Promise<T> {
      const run = queue.then(async () => {
        const { state, value } = await work({ ...store.state });
        if (state) store.state = state;
        return value;
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
  return store;
}

export interface UpstreamOAuthOptions {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  /** How the client authenticates to the token endpoint (default: HTTP Basic). */
  clientAuth?: 'basic' | 'post';
  scope?: string;
  /** `refresh_token`: the store holds a refresh token; `client_credentials`: none is needed. */
  grant: 'refresh_token' | 'client_credentials';
  store: TokenStore;
  /** Plain http token endpoints: tests only. */
  allowInsecure?: boolean;
}

/**
 * HttpClient options that authenticate with an access token from `tokens` (resolved on first use,
 * when the token endpoint must be discovered first): a bearer header, and on a 401 one new token.
 */
export function bearerAuth(tokens: () => Promise<UpstreamTokens>): Pick<HttpClientOptions, 'headers' | 'onUnauthorized'> {
  return {
    headers: async () => ({ authorization: `Bearer ${await (await tokens()).accessToken()}` }),
    // An expired or revoked token: get a new one, once.
    onUnauthorized: async () => {
      (await tokens()).invalidate();
      return true;
    },
  };
}

/** The source must be authorised again by a person (the refresh token was refused). */
export class ReauthorizeError extends Error {}

/** Renew a little early, so a token does not expire between the check and its use. */
const MARGIN_MS = 60_000;

export class UpstreamTokens {
  readonly #options: UpstreamOAuthOptions;
  #token?: { value: string; expiresAt: number };
  /** An access token the source answered 401 to: never handed out again, even if stored. */
  #refused?: string;
  #inflight?: Promise<string>;
  /** Token requests this instance made (the others were served from the store). */
  requests = 0;

  constructor(options: UpstreamOAuthOptions) {
    this.#options = options;
  }

  async accessToken(): Promise<string> {
    if (this.#token && this.#token.expiresAt - MARGIN_MS > Date.now()) return this.#token.value;
    this.#inflight ??= this.#obtain().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  /** Forget the cached token (the source answered 401 with it). */
  invalidate() {
    this.#refused = this.#token?.value;
    this.#token = undefined;
  }

  async #obtain(): Promise<string> {
    const token = await this.#options.store.exclusive(async (state) => {
      // Another run (or process) may have got a token while this one waited for the store.
      if (state.accessToken && state.accessToken !== this.#refused && (state.expiresAt ?? 0) - MARGIN_MS > Date.now()) {
        return { value: { value: state.accessToken, expiresAt: state.expiresAt! } };
      }
      const result = await this.#request(state);
      const next = { value: result.access_token, expiresAt: Date.now() + (result.expires_in ?? 3600) * 1000 };
      return { state: { refreshToken: result.refresh_token ?? state.refreshToken, accessToken: next.value, expiresAt: next.expiresAt }, value: next };
    });
    this.#token = token;
    return token.value;
  }

  async #request(state: TokenState): Promise<oauth.TokenEndpointResponse> {
    const o = this.#options;
    const as: oauth.AuthorizationServer = { issuer: new URL(o.tokenEndpoint).origin, token_endpoint: o.tokenEndpoint };
    const client: oauth.Client = { client_id: o.clientId };
    const auth = o.clientAuth === 'post' ? oauth.ClientSecretPost(o.clientSecret) : oauth.ClientSecretBasic(o.clientSecret);
    const insecure = o.allowInsecure ? { [oauth.allowInsecureRequests]: true } : {};
    this.requests++;
    try {
      if (o.grant === 'refresh_token') {
        if (!state.refreshToken) throw new ReauthorizeError('the source has no refresh token; authorise it again');
        const response = await oauth.refreshTokenGrantRequest(as, client, auth, state.refreshToken, { ...insecure, ...(o.scope && { additionalParameters: { scope: o.scope } }) });
        return await oauth.processRefreshTokenResponse(as, client, response);
      }
      const response = await oauth.clientCredentialsGrantRequest(as, client, auth, o.scope ? { scope: o.scope } : {}, insecure);
      return await oauth.processClientCredentialsResponse(as, client, response);
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError && (error.error === 'invalid_grant' || error.error === 'invalid_client')) {
        throw new ReauthorizeError(`the source's OAuth server refused the ${error.error === 'invalid_grant' ? 'stored refresh token' : 'client id or secret'} (${error.error_description ?? error.error}); authorise the source again`);
      }
      throw error;
    }
  }
}
