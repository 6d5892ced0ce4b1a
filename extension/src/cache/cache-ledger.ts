/**
 * The cache's bookkeeping: which blocks it holds, how big they are, in least-recently-used
 * order, which are pinned, and what must go to make room. Pure: `BlockCache` applies the
 * plans to IndexedDB.
 */
import { QuotaExceededError } from '@peerloom/shared'
import { formatBytes } from '@peerloom/shared/progress'
import type { LedgerEntry } from '../storage/state-db.ts'

export class CacheLedger {
  /** Insertion order is LRU order: a touched entry moves to the end. */
  private readonly entries = new Map<string, LedgerEntry>()
  private readonly pins = new Map<string, number>()
  private usedBytes = 0
  private capBytes: number

  constructor (capBytes: number) {
    this.capBytes = capBytes
  }

  get used (): number { return this.usedBytes }
  get cap (): number { return this.capBytes }
  get count (): number { return this.entries.size }

  has (key: string): boolean {
    return this.entries.has(key)
  }

  /** Loads an entry read back from storage (in any order; sorted by lastUsed on load). */
  restore (entries: Iterable<[string, LedgerEntry]>): void {
    const sorted = [...entries].sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    for (const [key, entry] of sorted) this.add(key, entry.bytes, entry.lastUsed)
  }

  add (key: string, bytes: number, now: number): void {
    this.remove(key)
    this.entries.set(key, { bytes, lastUsed: now })
    this.usedBytes += bytes
  }

  remove (key: string): LedgerEntry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    this.usedBytes -= entry.bytes
    return entry
  }

  /** Marks `key` as just used. */
  touch (key: string, now: number): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    entry.lastUsed = now
    this.entries.set(key, entry)
  }

  get (key: string): LedgerEntry | undefined {
    return this.entries.get(key)
  }

  pin (key: string): void {
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1)
  }

  unpin (key: string): void {
    const count = this.pins.get(key) ?? 0
    if (count <= 1) this.pins.delete(key)
    else this.pins.set(key, count - 1)
  }

  isPinned (key: string): boolean {
    return this.pins.has(key)
  }

  setCap (capBytes: number): void {
    this.capBytes = capBytes
  }

  /**
   * Keys to evict, oldest first, so that `incoming` more bytes fit under the cap.
   * Throws QuotaExceededError when pinned blocks leave too little room.
   */
  planAdmission (incoming: number): string[] {
    const excess = this.usedBytes + incoming - this.capBytes
    if (excess <= 0) return []
    const victims: string[] = []
    let freed = 0
    for (const [key, entry] of this.entries) {
      if (freed >= excess) break
      if (this.pins.has(key)) continue
      victims.push(key)
      freed += entry.bytes
    }
    if (freed < excess) {
      throw new QuotaExceededError(
        `cache quota reached (${formatBytes(this.usedBytes)} of ${formatBytes(this.capBytes)}, all of it in use); raise the cache cap in Options or stop other transfers`,
        { data: { used: this.usedBytes, cap: this.capBytes, incoming } })
    }
    return victims
  }

  /** Keys to evict so usage fits a (possibly lowered) cap; pinned blocks stay even if over. */
  planShrink (): string[] {
    const victims: string[] = []
    let used = this.usedBytes
    for (const [key, entry] of this.entries) {
      if (used <= this.capBytes) break
      if (this.pins.has(key)) continue
      victims.push(key)
      used -= entry.bytes
    }
    return victims
  }

  /** The least recently used unpinned keys holding at least `bytes`. */
  oldest (bytes: number): string[] {
    const victims: string[] = []
    let freed = 0
    for (const [key, entry] of this.entries) {
      if (freed >= bytes) break
      if (this.pins.has(key)) continue
      victims.push(key)
      freed += entry.bytes
    }
    return victims
  }

  keys (): IterableIterator<string> {
    return this.entries.keys()
  }

  clear (): void {
    this.entries.clear()
    this.usedBytes = 0
  }
}
