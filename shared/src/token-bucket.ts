/**
 * A token bucket: tokens refill at `rate` per second up to `burst`. Callers either ask for
 * tokens and are refused when there are too few (`tryTake`, for request rate limits), or
 * reserve them in advance and wait (`reserve`, for byte-rate caps: the bucket goes into debt,
 * so concurrent senders are served in order and at most `burst + rate × T` go out in T seconds).
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ rate: 10, burst: 20 })
 * if (!bucket.tryTake(1)) throw new RateLimitedError(`retry in ${bucket.retryAfterMs(1)} ms`)
 * ```
 */

export interface TokenBucketInit {
  /** Tokens added per second. */
  rate: number
  /** Most tokens held; the bucket starts full. @default rate */
  burst?: number
  /** Milliseconds, monotonic. @default performance.now */
  now?: () => number
}

export class TokenBucket {
  private rate: number
  private burst: number
  private tokens: number
  private last: number
  private readonly now: () => number

  constructor (init: TokenBucketInit) {
    this.now = init.now ?? (() => performance.now())
    this.rate = init.rate
    this.burst = init.burst ?? init.rate
    this.tokens = this.burst
    this.last = this.now()
  }

  /** Changes rate and burst; tokens already held stay, up to the new burst. */
  configure ({ rate, burst }: { rate: number, burst?: number }): void {
    this.refill()
    this.rate = rate
    this.burst = burst ?? rate
    this.tokens = Math.min(this.tokens, this.burst)
  }

  /** Tokens held now (negative while in debt). */
  get available (): number {
    this.refill()
    return this.tokens
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  tryTake (n: number): boolean {
    this.refill()
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** Takes `n` tokens, going into debt if need be; returns how many ms to wait before using them. */
  reserve (n: number): number {
    this.refill()
    this.tokens -= n
    return this.tokens >= 0 ? 0 : -this.tokens / this.rate * 1000
  }

  /** Gives back tokens that were reserved but not used. */
  refund (n: number): void {
    this.refill()
    this.tokens = Math.min(this.burst, this.tokens + n)
  }

  /** Milliseconds until `n` tokens are held; 0 when they are now. */
  retryAfterMs (n: number): number {
    this.refill()
    return this.tokens >= n ? 0 : (n - this.tokens) / this.rate * 1000
  }

  private refill (): void {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / 1000 * this.rate)
    this.last = now
  }
}
