/**
 * Bytes served, per client peer, kept across restarts. These totals are what receipts will
 * later be asked for, so they count only bytes that actually left for that client. Also the
 * totals received (ReceivedMeter), kept the same way.
 */
import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'
import { PERSIST_INTERVAL_MS } from '../constants.ts'
import type { ClientUsage } from '../storage/state-db.ts'

/** Where the meter keeps its records. */
export interface MeterStore {
  load: () => Promise<ClientUsage[]>
  save: (records: ClientUsage[]) => Promise<void>
}

export interface ServeMeterInit {
  store: MeterStore
  /** @default PERSIST_INTERVAL_MS */
  persistIntervalMs?: number
  now?: () => number
  /** Scoped logger. @default logger('peerloom:serve-meter') */
  log?: Logger
}

export class ServeMeter {
  private readonly store: MeterStore
  private readonly log: Logger
  private readonly persistIntervalMs: number
  private readonly now: () => number
  private readonly clients = new Map<string, ClientUsage>()
  private dirty = new Set<string>()
  private timer?: ReturnType<typeof setInterval>
  private totalBytes = 0

  constructor (init: ServeMeterInit) {
    this.store = init.store
    this.persistIntervalMs = init.persistIntervalMs ?? PERSIST_INTERVAL_MS
    this.now = init.now ?? Date.now
    this.log = init.log ?? logger('peerloom:serve-meter')
  }

  async start (): Promise<void> {
    for (const record of await this.store.load()) {
      this.clients.set(record.client, record)
      this.totalBytes += record.bytes
    }
    // a failed write keeps the records dirty for the next one
    this.timer = setInterval(() => { this.flush().catch(err => { this.log.error('could not save: %s', (err as Error).message) }) }, this.persistIntervalMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  /** Counts `bytes` delivered to `client` in one block. */
  record (client: string, bytes: number): void {
    const now = this.now()
    const usage = this.clients.get(client) ?? { client, bytes: 0, blocks: 0, firstAt: now, lastAt: now }
    usage.bytes += bytes
    usage.blocks += 1
    usage.lastAt = now
    this.clients.set(client, usage)
    this.totalBytes += bytes
    this.dirty.add(client)
  }

  /** Writes changed records to the store. */
  async flush (): Promise<void> {
    if (this.dirty.size === 0) return
    const changed = [...this.dirty].map(client => ({ ...this.clients.get(client) as ClientUsage }))
    this.dirty = new Set()
    try {
      await this.store.save(changed)
    } catch (err) {
      for (const record of changed) this.dirty.add(record.client)
      throw err
    }
  }

  /** Every client, most bytes first. */
  list (): ClientUsage[] {
    return [...this.clients.values()].map(usage => ({ ...usage })).sort((a, b) => b.bytes - a.bytes)
  }

  get total (): number {
    return this.totalBytes
  }

  /** Forgets everything (the store too). */
  async reset (): Promise<void> {
    this.clients.clear()
    this.dirty.clear()
    this.totalBytes = 0
  }
}

/** Bytes this node received, by source, since it was installed. */
export interface ReceivedBytes {
  fromPeers: number
  fromOrigin: number
}

/** Where the received totals are kept. */
export interface ReceivedStore {
  load: () => Promise<ReceivedBytes | undefined>
  save: (totals: ReceivedBytes) => Promise<void>
}

/**
 * Bytes received from peers and from the origin, kept across restarts like the served meter:
 * written every `persistIntervalMs`, at the end of each read (`flush`) and on stop.
 */
export class ReceivedMeter {
  private readonly store: ReceivedStore
  private readonly log: Logger
  private readonly persistIntervalMs: number
  private readonly totals: ReceivedBytes = { fromPeers: 0, fromOrigin: 0 }
  private dirty = false
  private timer?: ReturnType<typeof setInterval>

  /** `log`: scoped logger. @default logger('peerloom:received-meter') */
  constructor (init: { store: ReceivedStore, persistIntervalMs?: number, log?: Logger }) {
    this.store = init.store
    this.persistIntervalMs = init.persistIntervalMs ?? PERSIST_INTERVAL_MS
    this.log = init.log ?? logger('peerloom:received-meter')
  }

  async start (): Promise<void> {
    const saved = await this.store.load()
    // bytes counted before start (none in the node) are kept on top of what was saved
    this.totals.fromPeers += validCount(saved?.fromPeers)
    this.totals.fromOrigin += validCount(saved?.fromOrigin)
    // a failed write keeps the records dirty for the next one
    this.timer = setInterval(() => { this.flush().catch(err => { this.log.error('could not save: %s', (err as Error).message) }) }, this.persistIntervalMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  record (source: 'peer' | 'origin', bytes: number): void {
    if (source === 'peer') this.totals.fromPeers += bytes
    else this.totals.fromOrigin += bytes
    this.dirty = true
  }

  /** Writes the totals if they changed since the last write. */
  async flush (): Promise<void> {
    if (!this.dirty) return
    this.dirty = false
    try {
      await this.store.save({ ...this.totals })
    } catch (err) {
      this.dirty = true
      throw err
    }
  }

  get value (): ReceivedBytes {
    return { ...this.totals }
  }
}

/** A stored count, or 0 for anything that is not one (a record from an older or damaged database). */
function validCount (value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0
}
