import * as oauth from 'oauth4webapi';

/**
 * Access tokens a connector gets from its source's OAuth server (oauth4webapi): client credentials,
 * or a refresh token that rotates on every use. A token is reused until shortly before it expires,
 * and concurrent callers share one request, so a refresh token is never spent twice. A rotated
 * refresh token is handed to `persist` before the access token is used: if the process dies
 * right after, the stored token is still the live one.
 */

export interface UpstreamOAuthOptions {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  /** How the client authenticates to the token endpoint (default: HTTP Basic). */
  clientAuth?: 'basic' | 'post';
  scope?: string;
  refresh?: { current: () => Promise<string> | string; persist: (next: string) => Promise<void> };
  /** Plain http token endpoints: tests only. */
  allowInsecure?: boolean;
}

/** The source must be authorised again by a person (the refresh token was refused). */
export class ReauthorizeError extends Error {}

export class UpstreamTokens {
  readonly #options: UpstreamOAuthOptions;
  #token?: { value: string; expiresAt: number };
  #inflight?: Promise<string>;

  constructor(options: UpstreamOAuthOptions) {
    this.#options = options;
  }

  async accessToken(): Promise<string> {
    if (this.#token && this.#token.expiresAt > Date.now()) return this.#token.value;
    this.#inflight ??= this.#request().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  /** Forget the cached token (the source answered 401 with it). */
  invalidate() {
    this.#token = undefined;
  }

  async #request(): Promise<string> {
    const o = this.#options;
    const as: oauth.AuthorizationServer = { issuer: new URL(o.tokenEndpoint).origin, token_endpoint: o.tokenEndpoint };
    const client: oauth.Client = { client_id: o.clientId };
    const auth = o.clientAuth === 'post' ? oauth.ClientSecretPost(o.clientSecret) : oauth.ClientSecretBasic(o.clientSecret);
    const insecure = o.allowInsecure ? { [oauth.allowInsecureRequests]: true } : {};
    let result: oauth.TokenEndpointResponse;
    try {
      if (o.refresh) {
        const response = await oauth.refreshTokenGrantRequest(as, client, auth, await o.refresh.current(), insecure);
        result = await oauth.processRefreshTokenResponse(as, client, response);
        if (result.refresh_token) await o.refresh.persist(result.refresh_token);
      } else {
        const response = await oauth.clientCredentialsGrantRequest(as, client, auth, o.scope ? { scope: o.scope } : {}, insecure);
        result = await oauth.processClientCredentialsResponse(as, client, response);
      }
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant') {
        throw new ReauthorizeError(`the source refused the stored refresh token (${error.error_description ?? 'invalid_grant'}); authorise the source again`);
      }
      throw error;
    }
    // Renew a little early, so a token does not expire between the check and its use.
    this.#token = { value: result.access_token, expiresAt: Date.now() + ((result.expires_in ?? 3600) - 30) * 1000 };
    return result.access_token;
  }
}
