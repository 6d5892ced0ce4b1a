/**
 * Bytes served, per client peer, kept across restarts. These totals are what receipts will
 * later be asked for, so they count only bytes that actually left for that client.
 */
import { PERSIST_INTERVAL_MS } from './constants.ts'

export interface ClientUsage {
  /** The client's peer id. */
  client: string
  bytes: number
  blocks: number
  firstAt: number
  lastAt: number
}

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
}

export class ServeMeter {
  private readonly store: MeterStore
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
  }

  async start (): Promise<void> {
    for (const record of await this.store.load()) {
      this.clients.set(record.client, record)
      this.totalBytes += record.bytes
    }
    this.timer = setInterval(() => { this.flush().catch(() => {}) }, this.persistIntervalMs)
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
