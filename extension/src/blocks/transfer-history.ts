/** Bytes served and received over time, in fixed buckets, for the popup's chart. */
import { HISTORY_BUCKETS, HISTORY_BUCKET_MS } from '../constants.ts'
import type { HistoryBucket } from '../storage/state-db.ts'

/** Buckets the popup's chart shows (10 minutes), and the node's `history` event carries. */
export const CHART_BUCKETS = 60

export interface HistorySeries {
  /** Bucket starts, seconds since the epoch (uPlot's x axis). */
  t: number[]
  served: number[]
  received: number[]
  bucketMs: number
}

export class TransferHistory {
  private readonly buckets = new Map<number, HistoryBucket>()
  private readonly bucketMs: number
  private readonly maxBuckets: number
  private readonly now: () => number

  constructor (init: { bucketMs?: number, maxBuckets?: number, now?: () => number } = {}) {
    this.bucketMs = init.bucketMs ?? HISTORY_BUCKET_MS
    this.maxBuckets = init.maxBuckets ?? HISTORY_BUCKETS
    this.now = init.now ?? Date.now
  }

  restore (buckets: HistoryBucket[]): void {
    for (const bucket of buckets) this.buckets.set(bucket.t, { ...bucket })
    this.trim()
  }

  record (kind: 'served' | 'received', bytes: number): void {
    const t = Math.floor(this.now() / this.bucketMs) * this.bucketMs
    let bucket = this.buckets.get(t)
    if (bucket === undefined) {
      bucket = { t, served: 0, received: 0 }
      this.buckets.set(t, bucket)
      this.trim()
    }
    bucket[kind] += bytes
  }

  private trim (): void {
    const oldest = Math.floor(this.now() / this.bucketMs) * this.bucketMs - (this.maxBuckets - 1) * this.bucketMs
    for (const t of this.buckets.keys()) if (t < oldest) this.buckets.delete(t)
  }

  /** Stored buckets, for persistence. */
  snapshot (): HistoryBucket[] {
    return [...this.buckets.values()].map(bucket => ({ ...bucket }))
  }

  /** A dense series over the last `buckets` buckets (empty buckets are zero), rates in bytes/s. */
  series (buckets = CHART_BUCKETS): HistorySeries {
    const current = Math.floor(this.now() / this.bucketMs) * this.bucketMs
    const out: HistorySeries = { t: [], served: [], received: [], bucketMs: this.bucketMs }
    for (let i = buckets - 1; i >= 0; i--) {
      const t = current - i * this.bucketMs
      const bucket = this.buckets.get(t)
      out.t.push(t / 1000)
      out.served.push((bucket?.served ?? 0) / (this.bucketMs / 1000))
      out.received.push((bucket?.received ?? 0) / (this.bucketMs / 1000))
    }
    return out
  }

  clear (): void {
    this.buckets.clear()
  }
}
