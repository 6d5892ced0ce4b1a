/**
 * Each origin's own transfers, the only numbers `peerloom.stats()` and `contentStats()` reveal:
 * what this origin read and published through the page API, in all and per content. Persisted
 * so they survive restarts.
 */
import type { ContentStats, OriginStats, TransferCounts } from '@peerloom/shared'
import { MAX_CONTENT_STATS } from '../constants.ts'
import type { PageApiDb } from './page-db.ts'

type Counters = Omit<OriginStats, 'origin'>

const ZERO_TRANSFERS: TransferCounts = { fetches: 0, bytesDelivered: 0, bytesRead: 0, bytesFromPeers: 0, bytesFromOrigin: 0, bytesFromCache: 0 }
const ZERO: Counters = { ...ZERO_TRANSFERS, published: 0, bytesPublished: 0 }

/** One read's numbers, as the origin may see them. */
export type ReadDelta = Omit<TransferCounts, 'fetches' | 'bytesRead'>

/** What is known of a piece of content when it is read or published. */
export interface ContentInfo {
  cid: string
  name: string
  size: number
}

export class OriginStatsBook {
  private readonly db: PageApiDb
  /** Writes per key run one after another so increments are never lost. */
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor (db: PageApiDb) {
    this.db = db
  }

  async get (origin: string): Promise<OriginStats> {
    await this.queues.get(origin)
    return { ...ZERO, ...(await this.db.get('stats', origin)), origin }
  }

  /** The origin's per-content rows, most recent first (at most MAX_CONTENT_STATS). */
  async content (origin: string): Promise<ContentStats[]> {
    await Promise.all([...this.queues].filter(([key]) => key.startsWith(`${origin} `)).map(async ([, queued]) => await queued.catch(() => {})))
    const rows = await this.db.getAll('content', IDBKeyRange.bound(`${origin} `, `${origin} \uffff`))
    return rows.sort((a, b) => b.lastAt - a.lastAt).slice(0, MAX_CONTENT_STATS).map(({ origin: _origin, ...row }) => ({ ...ZERO_TRANSFERS, ...row }))
  }

  /** Adds `delta` to the origin's counters. */
  async add (origin: string, delta: Partial<Counters>): Promise<void> {
    await this.serially(origin, async () => {
      const current = { ...ZERO, ...(await this.db.get('stats', origin)) }
      for (const [key, value] of Object.entries(delta) as Array<[keyof Counters, number]>) current[key] += value
      await this.db.put('stats', { ...current, origin })
    })
  }

  /** Counts one read of `content` by `origin`, in all and for that content; bytesRead is the sum of the sources. */
  async addRead (origin: string, content: ContentInfo, read: ReadDelta): Promise<void> {
    const counts: TransferCounts = { fetches: 1, bytesRead: read.bytesFromPeers + read.bytesFromOrigin + read.bytesFromCache, ...read }
    await Promise.all([this.add(origin, counts), this.addContent(origin, content, counts, false)])
  }

  /** Counts content `origin` published. */
  async addPublished (origin: string, content: ContentInfo): Promise<void> {
    await Promise.all([this.add(origin, { published: 1, bytesPublished: content.size }), this.addContent(origin, content, {}, true)])
  }

  private async addContent (origin: string, content: ContentInfo, delta: Partial<TransferCounts>, published: boolean): Promise<void> {
    const key = `${origin} ${content.cid}`
    await this.serially(key, async () => {
      const current = { ...ZERO_TRANSFERS, published: false, ...(await this.db.get('content', key)), ...content, origin, lastAt: Date.now() }
      for (const [name, value] of Object.entries(delta) as Array<[keyof TransferCounts, number]>) current[name] += value
      current.published ||= published
      await this.db.put('content', current, key)
    })
  }

  private async serially (key: string, write: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(key) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(write)
    this.queues.set(key, next)
    try {
      await next
    } finally {
      if (this.queues.get(key) === next) this.queues.delete(key)
    }
  }

  /** Forgets an origin's numbers (when its consent is revoked). */
  async clear (origin: string): Promise<void> {
    const range = IDBKeyRange.bound(`${origin} `, `${origin} \uffff`)
    await Promise.all([this.db.delete('stats', origin), this.db.delete('content', range)])
  }
}
