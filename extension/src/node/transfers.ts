/**
 * Whole-content transfers the node runs on behalf of extension pages (the test hook and the
 * popup's "recent transfers"): each reads a link to the end, hashes the plaintext and keeps
 * its progress and outcome so a caller can poll it even if the service worker restarts.
 */
import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'
import { errorToWire, toHex } from '@peerloom/shared'
import type { WireError } from '@peerloom/shared'
import type { FetchStats } from '../blocks/block-fetcher.ts'
import type { PeerloomNode } from './node.ts'

export interface TransferState {
  id: string
  link: string
  name?: string
  size?: number
  bytes: number
  startedAt: number
  /** ms from start to the first plaintext byte. */
  firstByteMs?: number
  /** ms from start to the last plaintext byte (before hashing). */
  lastByteMs?: number
  finishedAt?: number
  /** SHA-256 of the plaintext, hex, once complete. */
  sha256?: string
  error?: WireError
  stats?: FetchStats
}

/**
 * Transfers kept for inspection.
 * @default 20
 */
const MAX_KEPT = 20

/** What the book needs from the node: a way to read a link. */
export interface TransferBookComponents {
  openContent: (link: string) => ReturnType<PeerloomNode['openContent']>
  /** Scoped logger. @default logger('peerloom:transfers') */
  log?: Logger
}

export class TransferBook {
  private readonly components: TransferBookComponents
  private readonly transfers = new Map<string, TransferState>()
  private next = 1
  private readonly log: Logger

  constructor (components: TransferBookComponents) {
    this.components = components
    this.log = components.log ?? logger('peerloom:transfers')
  }

  /** Starts reading `link` to the end in the background; returns its id at once. */
  start (link: string): TransferState {
    const state: TransferState = { id: String(this.next++), link, bytes: 0, startedAt: performance.now() }
    this.transfers.set(state.id, state)
    while (this.transfers.size > MAX_KEPT) this.transfers.delete(this.transfers.keys().next().value as string)
    void this.run(state)
    return { ...state }
  }

  private async run (state: TransferState): Promise<void> {
    try {
      const opened = await this.components.openContent(state.link)
      state.name = opened.manifest.name
      state.size = opened.size
      state.stats = opened.stats
      const whole = new Uint8Array(opened.size)
      const reader = opened.body.getReader()
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        state.firstByteMs ??= performance.now() - state.startedAt
        whole.set(value, state.bytes)
        state.bytes += value.length
        state.lastByteMs = performance.now() - state.startedAt
      }
      state.sha256 = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', whole))).slice(2)
      this.log('transfer %s: %d bytes in %d ms', state.id, state.bytes, Math.round(performance.now() - state.startedAt))
    } catch (err) {
      state.error = errorToWire(err)
      this.log('transfer %s failed: %s', state.id, state.error.message)
    } finally {
      state.finishedAt = performance.now()
    }
  }

  get (id: string): TransferState | undefined {
    const state = this.transfers.get(id)
    return state === undefined ? undefined : JSON.parse(JSON.stringify(state)) as TransferState
  }

  list (): TransferState[] {
    return [...this.transfers.keys()].reverse().map(id => this.get(id) as TransferState)
  }
}
