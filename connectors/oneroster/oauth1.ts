import { createHmac, randomBytes } from 'node:crypto';

/**
 * OAuth 1.0a request signing with HMAC-SHA1 (RFC 5849 §3), as OneRoster 1.1 providers that predate
 * OAuth 2 still require: two-legged (a consumer key and secret, no token), every query parameter
 * signed, the signature sent in the Authorization header.
 */

export interface OAuth1Credentials {
  consumerKey: string;
  consumerSecret: string;
  /** Three-legged only; OneRoster uses none. */
  token?: string;
  tokenSecret?: string;
}

/** RFC 3986 percent-encoding, as RFC 5849 §3.6 asks (encodeURIComponent leaves !'()* alone). */
export const percent = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The signature base string of RFC 5849 §3.4.1: method, base URI and the normalised parameters. */
export function signatureBase(method: string, url: URL, params: [string, string][]): string {
  // URL already lower-cases the scheme and host and drops a default port, as §3.4.1.2 asks.
  const base = `${url.protocol}//${url.host}${url.pathname}`;
  const all = [...url.searchParams, ...params]
    .map(([k, v]) => [percent(k), percent(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return [method.toUpperCase(), percent(base), percent(all.map(([k, v]) => `${k}=${v}`).join('&'))].join('&');
}

/** The `oauth_*` parameters and signature for one request; `body` holds form parameters that are signed too. */
export function sign(method: string, url: URL, credentials: OAuth1Credentials, options: { nonce?: string; timestamp?: number; body?: [string, string][] } = {}) {
  const oauth: [string, string][] = [
    ['oauth_consumer_key', credentials.consumerKey],
    ['oauth_nonce', options.nonce ?? randomBytes(16).toString('hex')],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', String(options.timestamp ?? Math.floor(Date.now() / 1000))],
    ...(credentials.token ? [['oauth_token', credentials.token] as [string, string]] : []),
    ['oauth_version', '1.0'],
  ];
  const base = signatureBase(method, url, [...oauth, ...(options.body ?? [])]);
  const key = `${percent(credentials.consumerSecret)}&${percent(credentials.tokenSecret ?? '')}`;
  const signature = createHmac('sha1', key).update(base).digest('base64');
  return { base, signature, params: [...oauth, ['oauth_signature', signature]] as [string, string][] };
}

/** The Authorization header of a signed request. */
export function authorizationHeader(method: string, url: URL, credentials: OAuth1Credentials, options?: Parameters<typeof sign>[3]): string {
  const { params } = sign(method, url, credentials, options);
  return `OAuth ${params.map(([k, v]) => `${percent(k)}="${percent(v)}"`).join(', ')}`;
}
