/** A token bucket per origin: a page that floods the API gets RATE_LIMITED, others are unaffected. */
import { TokenBucket } from '@peerloom/shared/token-bucket'
import { ORIGIN_CALLS_PER_SECOND, ORIGIN_CALL_BURST } from '../constants.ts'

export interface OriginRateLimitInit {
  /** @default ORIGIN_CALLS_PER_SECOND */
  perSecond?: number
  /** @default ORIGIN_CALL_BURST */
  burst?: number
  now?: () => number
}

export class OriginRateLimit {
  private readonly perSecond: number
  private readonly burst: number
  private readonly now: () => number
  private readonly buckets = new Map<string, TokenBucket>()

  constructor (init: OriginRateLimitInit = {}) {
    this.perSecond = init.perSecond ?? ORIGIN_CALLS_PER_SECOND
    this.burst = init.burst ?? ORIGIN_CALL_BURST
    this.now = init.now ?? (() => Date.now())
  }

  /** Spends one call for `origin`; false when its bucket is empty. */
  take (origin: string): boolean {
    let bucket = this.buckets.get(origin)
    if (bucket === undefined) {
      bucket = new TokenBucket({ rate: this.perSecond, burst: this.burst, now: this.now })
      this.buckets.set(origin, bucket)
    }
    return bucket.tryTake(1)
  }

  /** Seconds until `origin` may call again. */
  retryAfter (origin: string): number {
    return (this.buckets.get(origin)?.retryAfterMs(1) ?? 0) / 1000
  }
}
