/**
 * Per-client rate limits for the API doors: a token bucket per client id in this process (a
 * sustained rate and a burst, so bulk loaders that fire twenty requests at once are not refused;
 * see the Ed-Fi reference on DMS's 429 storms). Several replicas each allow the rate: size it per
 * replica. `take` answers 0 when the request may go, else the seconds to wait (Retry-After).
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perSecond: number, burst: number) {
    this.#rate = perSecond;
    this.#burst = Math.max(1, burst);
  }

  take(key: string, now = Date.now()): number {
    if (this.#rate <= 0) return 0;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      // Forget idle clients now and then, so the map stays as small as the set of active clients.
      if (this.#buckets.size > 10_000) for (const [k, b] of this.#buckets) if (now - b.at > 60_000) this.#buckets.delete(k);
      this.#buckets.set(key, (bucket = { tokens: this.#burst, at: now }));
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#rate));
  }
}
