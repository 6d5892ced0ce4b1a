/**
 * The block cache: ciphertext blocks in IndexedDB under a user-set cap, evicted least
 * recently used first. Blocks of content being read or published are pinned while in use.
 * A full quota or disk never breaks a transfer: the cache evicts, retries once, and
 * otherwise reports QuotaExceededError, which readers treat as "not cached".
 */
import { NotFoundError, QuotaExceededError } from '@peerloom/shared'
import type { Blockstore } from 'interface-blockstore'
import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { formatBytes } from '@peerloom/shared/progress'
import { CacheLedger } from './cache-ledger.ts'
import type { LedgerEntry } from '../storage/state-db.ts'
import { PERSIST_INTERVAL_MS } from '../constants.ts'
import { isQuotaError } from '../storage/state-db.ts'
import type { StateDb } from '../storage/state-db.ts'

export interface BlockCacheInit {
  db: StateDb
  capBytes: number
  /** @default PERSIST_INTERVAL_MS */
  persistIntervalMs?: number
  /** @default DEFERRED_COMMIT_MS */
  deferredCommitMs?: number
  now?: () => number
  /** Called when the bytes or blocks cached changed (the node tells the popup). */
  onChange?: () => void
  /** Scoped logger. @default logger('peerloom:cache') */
  log?: Logger
}

/**
 * Bytes of blocks written in one transaction at most.
 * @default 16 MiB
 */
const MAX_BATCH_BYTES = 16 * 1024 * 1024

/**
 * Deferred writes (`put` with `deferred`) wait until this many bytes are queued, or until
 * DEFERRED_COMMIT_MS passed, before a transaction commits them: Chromium's IndexedDB spends
 * about a third less CPU writing 16 blocks per transaction than 2 (npm run bench:idb), and a
 * transfer otherwise commits every block or two as it arrives.
 * @default 4 MiB
 */
const DEFERRED_BATCH_BYTES = 4 * 1024 * 1024

/** @default 250 */
const DEFERRED_COMMIT_MS = 250

/**
 * Blocks up to this size stay in memory once read or written: manifests, inner nodes and the
 * short last chunk of a file, which every reader of the content asks for first (and a donor is
 * asked for by every viewer), for an IndexedDB read of 2-40 ms each.
 * @default 64 KiB
 */
const HOT_BLOCK_MAX_BYTES = 64 * 1024

/**
 * Memory for those blocks, least recently used dropped first.
 * @default 4 MiB
 */
const HOT_TOTAL_BYTES = 4 * 1024 * 1024

export interface PutOptions {
  /**
   * Nobody waits on this write (a transfer caching what it fetched on the side): it may wait up
   * to DEFERRED_COMMIT_MS to share a transaction with later writes. It is readable meanwhile.
   */
  deferred?: boolean
}

interface QueuedWrite {
  key: string
  bytes: Uint8Array
  entry: LedgerEntry
  victims: string[]
  deferred: boolean
  resolve: () => void
  reject: (err: unknown) => void
}

export interface CacheStats {
  usedBytes: number
  capBytes: number
  blocks: number
  /** Set when the disk filled up before the cap was reached. */
  diskFullAt?: number
}

export class BlockCache {
  private readonly db: StateDb
  private readonly ledger: CacheLedger
  private readonly now: () => number
  private readonly persistIntervalMs: number
  private touched = new Set<string>()
  /** Blocks booked in the ledger whose write has not finished yet; readers get them from here. */
  private readonly writing = new Map<string, Uint8Array>()
  /** Small blocks held in memory as well, in least recently used order (see HOT_BLOCK_MAX_BYTES). */
  private readonly hot = new Map<string, Uint8Array>()
  private hotBytes = 0
  /** Writes waiting for the next transaction. */
  private readonly queue: QueuedWrite[] = []
  private committing = false
  /** Set while deferred writes wait for company. */
  private deferredTimer?: ReturnType<typeof setTimeout>
  /** Commit everything queued without waiting, until the queue is empty (a flush). */
  private draining = false
  /** The deferred writes waited long enough: the next transaction takes what is queued. */
  private due = false
  private readonly deferredCommitMs: number
  private timer?: ReturnType<typeof setInterval>
  private diskFullAt?: number
  private userCap: number
  private readonly onChange: () => void
  private readonly log: Logger

  constructor (init: BlockCacheInit) {
    this.onChange = init.onChange ?? (() => {})
    this.log = init.log ?? logger('peerloom:cache')
    this.db = init.db
    this.userCap = init.capBytes
    this.ledger = new CacheLedger(init.capBytes)
    this.now = init.now ?? Date.now
    this.persistIntervalMs = init.persistIntervalMs ?? PERSIST_INTERVAL_MS
    this.deferredCommitMs = init.deferredCommitMs ?? DEFERRED_COMMIT_MS
  }

  async start (): Promise<void> {
    const tx = this.db.transaction('blockMeta')
    const entries: Array<[string, LedgerEntry]> = []
    let cursor = await tx.store.openCursor()
    while (cursor !== null) {
      entries.push([cursor.key, cursor.value])
      cursor = await cursor.continue()
    }
    this.ledger.restore(entries)
    this.timer = setInterval(() => { this.flushAccessTimes().catch(() => {}) }, this.persistIntervalMs)
    await this.enforceCap()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.commitDeferred()
    await this.flushAccessTimes()
  }

  has (cid: CID): boolean {
    return this.ledger.has(cid.toString())
  }

  /** The cached block, or undefined. Marks it as used. */
  async get (cid: CID): Promise<Uint8Array | undefined> {
    const key = cid.toString()
    if (!this.ledger.has(key)) return undefined
    const bytes = this.writing.get(key) ?? this.takeHot(key) ?? await this.read(key)
    if (bytes === undefined) {
      if (!this.writing.has(key)) this.ledger.remove(key)
      return undefined
    }
    if (!this.ledger.has(key)) return bytes // evicted while it was read: returned, not kept
    this.keepHot(key, bytes)
    this.ledger.touch(key, this.now())
    this.touched.add(key)
    return bytes
  }

  /** The block if it is held in memory; `keepHot` puts it back as the most recently used. */
  private takeHot (key: string): Uint8Array | undefined {
    const bytes = this.hot.get(key)
    if (bytes !== undefined) this.dropHot(key)
    return bytes
  }

  private keepHot (key: string, bytes: Uint8Array): void {
    if (bytes.length > HOT_BLOCK_MAX_BYTES || this.hot.has(key)) return
    this.hot.set(key, bytes)
    this.hotBytes += bytes.length
    for (const [oldest] of this.hot) {
      if (this.hotBytes <= HOT_TOTAL_BYTES) break
      this.dropHot(oldest)
    }
  }

  private dropHot (key: string): void {
    const bytes = this.hot.get(key)
    if (bytes === undefined) return
    this.hot.delete(key)
    this.hotBytes -= bytes.length
  }

  private async read (key: string): Promise<Uint8Array | undefined> {
    const value = await this.db.get('blocks', key)
    return value instanceof Blob ? new Uint8Array(await value.arrayBuffer()) : value
  }

  /**
   * Stores a block that was already verified against `cid`, evicting the least recently
   * used unpinned blocks to stay under the cap. Throws QuotaExceededError when it cannot.
   */
  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    const key = cid.toString()
    if (this.ledger.has(key)) {
      this.ledger.touch(key, this.now())
      return
    }
    const deferred = options.deferred === true
    try {
      await this.write(key, bytes, deferred)
    } catch (err) {
      if (!isQuotaError(err)) throw err
      // the browser's quota or the disk ran out below our cap: shrink to what fits and retry once
      this.diskFullAt = this.ledger.used
      this.log.error('the browser refused a write at %s cached: shrinking to it', formatBytes(this.ledger.used))
      // if even deleting fails, the retry below reports the quota error
      await this.evict(this.ledger.oldest(Math.max(bytes.length * 4, Math.floor(this.ledger.used / 10)))).catch(() => {})
      try {
        await this.write(key, bytes, false)
      } catch (again) {
        if (!isQuotaError(again)) throw again
        throw new QuotaExceededError(`the disk is full: the browser refused to store more than ${formatBytes(this.ledger.used)} of cache; free disk space or lower the cache cap in Options`, { cause: again, data: { used: this.ledger.used } })
      }
    }
  }

  private async write (key: string, bytes: Uint8Array, deferred: boolean): Promise<void> {
    const cap = this.diskFullAt === undefined ? this.userCap : Math.min(this.userCap, this.diskFullAt)
    this.ledger.setCap(cap)
    // plan and book synchronously, so concurrent puts see each other and never overshoot the cap
    const victims = this.ledger.planAdmission(bytes.length)
    const removed = victims.map(victim => [victim, this.ledger.remove(victim)] as const)
    const entry = { bytes: bytes.length, lastUsed: this.now() }
    this.ledger.add(key, entry.bytes, entry.lastUsed)
    this.onChange()
    this.writing.set(key, bytes)
    try {
      await new Promise<void>((resolve, reject) => {
        this.queue.push({ key, bytes, entry, victims, deferred, resolve, reject })
        this.scheduleCommit()
      })
    } catch (err) {
      this.ledger.remove(key)
      for (const [victim, old] of removed) if (old !== undefined) this.ledger.add(victim, old.bytes, old.lastUsed)
      this.onChange()
      throw err
    } finally {
      this.writing.delete(key)
    }
    for (const victim of victims) {
      this.touched.delete(victim)
      this.dropHot(victim)
    }
    this.keepHot(key, bytes)
  }

  /** Commits deferred writes now instead of waiting for more (a transfer has ended). */
  commitDeferred (): void {
    if (this.queue.length === 0) return
    this.draining = true
    this.scheduleCommit()
  }

  /** True when the queue may wait for more writes: only deferred ones, and not many bytes yet. */
  private mayWait (): boolean {
    if (this.draining || this.due) return false
    let bytes = 0
    for (const item of this.queue) {
      if (!item.deferred) return false
      bytes += item.bytes.length
    }
    return bytes < DEFERRED_BATCH_BYTES
  }

  private scheduleCommit (): void {
    if (this.committing) return // the running loop takes what is queued
    if (this.mayWait()) {
      this.deferredTimer ??= setTimeout(() => {
        this.deferredTimer = undefined
        this.due = true
        this.scheduleCommit()
      }, this.deferredCommitMs)
      return
    }
    clearTimeout(this.deferredTimer)
    this.deferredTimer = undefined
    this.committing = true
    // writes that arrive while a transaction commits go together in the next one (group commit)
    queueMicrotask(() => { void this.commitQueued() })
  }

  private async commitQueued (): Promise<void> {
    while (this.queue.length > 0 && !this.mayWait()) {
      const batch = this.takeBatch()
      this.due = false
      try {
        await this.commit(batch)
        for (const item of batch) item.resolve()
      } catch (err) {
        // undo in reverse order: a later write may have evicted an earlier one of the same batch
        for (const item of batch.reverse()) item.reject(err)
      }
    }
    this.committing = false
    if (this.queue.length === 0) this.draining = false
    else this.scheduleCommit() // deferred writes that came in meanwhile wait for company
  }

  private async commit (batch: QueuedWrite[]): Promise<void> {
    // a cache may lose its last writes in a power cut; it need not pay a disk flush per block
    const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite', { durability: 'relaxed' })
    const work: Array<Promise<unknown>> = [tx.done]
    try {
      const blocks = tx.objectStore('blocks')
      const meta = tx.objectStore('blockMeta')
      for (const { key, bytes, entry, victims } of batch) {
        for (const victim of victims) work.push(blocks.delete(victim), meta.delete(victim))
        // a Blob is stored as a reference to its bytes: no serialised copy inside the record, and
        // reading it back costs less than a Uint8Array value (npm run bench:idb)
        work.push(blocks.put(new Blob([bytes as Uint8Array<ArrayBuffer>]), key), meta.put(entry, key))
      }
    } catch (err) {
      // abort() throws when the transaction already finished (it was aborted under us): nothing to undo then
      try { tx.abort() } catch { /* finished */ }
      work.push(Promise.reject(err))
    }
    await Promise.all(work)
  }

  private takeBatch (): QueuedWrite[] {
    let bytes = 0
    let count = 0
    while (count < this.queue.length && (count === 0 || bytes + (this.queue[count] as QueuedWrite).bytes.length <= MAX_BATCH_BYTES)) {
      bytes += (this.queue[count] as QueuedWrite).bytes.length
      count++
    }
    return this.queue.splice(0, count)
  }

  private async evict (keys: string[]): Promise<void> {
    if (keys.length === 0) return
    this.log('evicting %d blocks', keys.length)
    const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite')
    const requests = keys.flatMap(key => [tx.objectStore('blocks').delete(key), tx.objectStore('blockMeta').delete(key)])
    await Promise.all([...requests, tx.done])
    for (const key of keys) {
      this.ledger.remove(key)
      this.touched.delete(key)
      this.dropHot(key)
    }
    this.onChange()
  }

  /** Protects a block from eviction until `unpin`; pins nest. */
  pin (cid: CID): void {
    this.ledger.pin(cid.toString())
  }

  unpin (cid: CID): void {
    this.ledger.unpin(cid.toString())
  }

  /** Applies a new cap, evicting down to it. */
  async setCap (capBytes: number): Promise<void> {
    this.log('cap set to %s', formatBytes(capBytes))
    this.userCap = capBytes
    this.diskFullAt = undefined
    this.onChange()
    await this.enforceCap()
  }

  private async enforceCap (): Promise<void> {
    this.ledger.setCap(this.userCap)
    await this.evict(this.ledger.planShrink())
  }

  /** Deletes every block. */
  async clear (): Promise<void> {
    // writes still waiting for a transaction are dropped with the rest, not written after it
    clearTimeout(this.deferredTimer)
    this.deferredTimer = undefined
    for (const item of this.queue.splice(0)) item.resolve()
    const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite')
    await Promise.all([tx.objectStore('blocks').clear(), tx.objectStore('blockMeta').clear(), tx.done])
    this.ledger.clear()
    this.touched.clear()
    this.hot.clear()
    this.hotBytes = 0
    this.diskFullAt = undefined
    this.onChange()
  }

  /**
   * The cache as an interface-blockstore for Helia. Reads never touch the network; `put`
   * is for blocks already verified by the caller (Helia verifies what it stores).
   */
  blockstore (): Blockstore {
    const get = async function * (this: BlockCache, cid: CID): AsyncGenerator<Uint8Array> {
      const bytes = await this.get(cid)
      if (bytes === undefined) throw new NotFoundError(`block ${cid.toString()} is not in the cache`)
      yield bytes
    }.bind(this)
    const put = async (cid: CID, bytes: Uint8Array | AwaitIterable<Uint8Array>): Promise<CID> => {
      await this.put(cid, await toBytes(bytes))
      return cid
    }
    return {
      has: async (cid: CID) => this.has(cid),
      put,
      get,
      delete: async (cid: CID) => { await this.evict([cid.toString()]) },
      putMany: async function * (source: AwaitIterable<{ cid: CID, bytes: Uint8Array | AwaitIterable<Uint8Array> }>) {
        for await (const { cid, bytes } of source) yield await put(cid, bytes)
      },
      getMany: async function * (source: AwaitIterable<CID>) {
        for await (const cid of source) yield { cid, bytes: get(cid) }
      },
      deleteMany: async function * (this: BlockCache, source: AwaitIterable<CID>) {
        for await (const cid of source) {
          await this.evict([cid.toString()])
          yield cid
        }
      }.bind(this),
      getAll: async function * (this: BlockCache) {
        for (const key of [...this.ledger.keys()]) {
          const cid: CID = CID.parse(key) as never
          yield { cid, bytes: get(cid) }
        }
      }.bind(this)
    } as unknown as Blockstore
  }

  stats (): CacheStats {
    return { usedBytes: this.ledger.used, capBytes: this.userCap, blocks: this.ledger.count, ...(this.diskFullAt === undefined ? {} : { diskFullAt: this.diskFullAt }) }
  }

  private async flushAccessTimes (): Promise<void> {
    if (this.touched.size === 0) return
    const keys = [...this.touched]
    this.touched = new Set()
    const tx = this.db.transaction('blockMeta', 'readwrite')
    const requests: Array<Promise<unknown>> = []
    for (const key of keys) {
      const entry = this.ledger.get(key)
      if (entry !== undefined) requests.push(tx.store.put({ ...entry }, key))
    }
    await Promise.all([...requests, tx.done])
  }
}

type AwaitIterable<T> = Iterable<T> | AsyncIterable<T>

async function toBytes (bytes: Uint8Array | AwaitIterable<Uint8Array>): Promise<Uint8Array> {
  if (bytes instanceof Uint8Array) return bytes
  const parts: Uint8Array[] = []
  for await (const part of bytes) parts.push(part)
  if (parts.length === 1) return parts[0] as Uint8Array
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
