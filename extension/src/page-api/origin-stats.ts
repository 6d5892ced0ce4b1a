/**
 * Each origin's own transfers, the only numbers `peerloom.stats()` reveals: what this origin
 * fetched and published through the page API. Persisted so they survive restarts.
 */
import type { OriginStats } from '@peerloom/shared'
import type { PageApiDb } from './page-db.ts'

type Counters = Omit<OriginStats, 'origin'>

const ZERO: Counters = { fetches: 0, bytesDelivered: 0, bytesFromPeers: 0, bytesFromOrigin: 0, published: 0, bytesPublished: 0 }

export class OriginStatsBook {
  private readonly db: PageApiDb
  /** Writes per origin run one after another so increments are never lost. */
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor (db: PageApiDb) {
    this.db = db
  }

  async get (origin: string): Promise<OriginStats> {
    await this.queues.get(origin)
    return { ...ZERO, ...(await this.db.get('stats', origin)), origin }
  }

  /** Adds `delta` to the origin's counters. */
  async add (origin: string, delta: Partial<Counters>): Promise<void> {
    const previous = this.queues.get(origin) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(async () => {
      const current = { ...ZERO, ...(await this.db.get('stats', origin)) }
      for (const [key, value] of Object.entries(delta) as Array<[keyof Counters, number]>) current[key] += value
      await this.db.put('stats', { ...current, origin })
    })
    this.queues.set(origin, next)
    try {
      await next
    } finally {
      if (this.queues.get(origin) === next) this.queues.delete(origin)
    }
  }

  /** Forgets an origin's numbers (when its consent is revoked). */
  async clear (origin: string): Promise<void> {
    await this.db.delete('stats', origin)
  }
}
