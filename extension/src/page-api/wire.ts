/**
 * The page ↔ node wire protocol over a transferred `MessagePort`: requests and answers as plain
 * objects, bytes as transferred `ArrayBuffer`s, and credit-based backpressure so neither side
 * buffers more than a window of chunks. Used by the page's `window.peerloom`, the service
 * worker's player streams and the node's document, so it imports nothing heavy (no zod): the
 * node checks every incoming message with `node/wire-schema.ts`. The messages between the page
 * API's contexts (content script, bridge frame, worker, prompt window) are named here too.
 */

import type { CallEvent } from '@peerloom/shared/calls/api'
import type { WireError } from '@peerloom/shared/errors'

/** Chunks a receiver lets the sender have in flight. @default 6 */
export const STREAM_WINDOW = 6

/** Page → node. */
export type PageMessage =
  | { t: 'req', id: number, method: string, params?: unknown }
  /** Lets the node send `n` more chunks of stream `id`. */
  | { t: 'credit', id: number, n: number }
  | { t: 'cancel', id: number }
  /** Bytes of a file being published (request `id`). */
  | { t: 'data', id: number, bytes: ArrayBuffer }
  | { t: 'end', id: number }

/** Node → page (and node → service worker for player streams). */
export type NodeMessage =
  | { t: 'ready' }
  | { t: 'result', id: number, result: unknown }
  | { t: 'error', id: number | null, error: WireError }
  | { t: 'head', id: number, status: number, headers: Record<string, string> }
  | { t: 'chunk', id: number, bytes: ArrayBuffer }
  | { t: 'end', id: number }
  /** Lets the page send `n` more chunks of the file being published. */
  | { t: 'credit', id: number, n: number }
  /** Something that happened in the call joined by request `id` (docs/CALLS.md, Page API). */
  | { t: 'event', id: number, event: CallEvent }

/** What the service worker sends the node's document (with a fresh port) for one player request. */
export interface PlayerStreamRequest {
  type: 'peerloom:player-stream'
  token: string
  /** The origin embedding the player frame, as the frame read it from `location.ancestorOrigins`. */
  origin: string
  range: string | null
}

/** What the bridge frame sends the service worker (with the page's port), and the worker the node. */
export interface BridgePortMessage {
  type: 'peerloom:page-port'
  origin: string
}

/** The message the main world posts to the extension's content script with a port to hand on. */
export const OPEN_BRIDGE_MESSAGE = 'peerloom:open-bridge'

/** The message that carries a page's port into the bridge frame. */
export const BRIDGE_PORT_MESSAGE = 'peerloom:bridge-port'

/** Name prefix of the prompt window's runtime port. */
export const CONSENT_PORT_PREFIX = 'peerloom-consent:'

/** What the node's document asks the service worker for. */
export interface OpenConsentMessage {
  to: 'page-api'
  type: 'open-consent'
  id: string
  origin: string
}

/** Prompt window → node, and node → prompt window. */
export type ConsentPortMessage = { decision: 'allow' | 'deny' } | { origin: string } | { done: true }

/** The bytes of `view` as an ArrayBuffer that can be transferred without detaching anything else. */
export function transferable (view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view.buffer
  return view.slice().buffer as ArrayBuffer
}

/**
 * The receiving end of a byte stream: a ReadableStream that hands out credit as its reader
 * consumes chunks. Feed it with `push`, `end` and `fail` from the port's message handler.
 */
export class IncomingStream {
  readonly stream: ReadableStream<Uint8Array>
  private readonly queue: Uint8Array[] = []
  private ended = false
  private failure: unknown
  private wake?: () => void

  /**
   * `grant(n)` sends credit for `n` chunks; `cancel()` tells the sender to stop. With
   * `implicitWindow` the sender starts with a window of STREAM_WINDOW chunks without waiting for
   * a grant (saves a round trip before the first byte); otherwise the window is granted here.
   */
  constructor (grant: (n: number) => void, cancel: () => void, options: { implicitWindow?: boolean } = {}) {
    this.stream = new ReadableStream<Uint8Array>({
      start: () => { if (options.implicitWindow !== true) grant(STREAM_WINDOW) },
      pull: async controller => {
        while (this.queue.length === 0 && !this.ended && this.failure === undefined) await new Promise<void>(resolve => { this.wake = resolve })
        const next = this.queue.shift()
        if (next !== undefined) {
          controller.enqueue(next)
          if (!this.ended) grant(1)
        } else if (this.failure !== undefined) {
          controller.error(this.failure)
        } else {
          controller.close()
        }
      },
      cancel: () => {
        this.ended = true
        cancel()
      }
    }, { highWaterMark: 0 })
  }

  push (bytes: ArrayBuffer): void {
    this.queue.push(new Uint8Array(bytes))
    this.notify()
  }

  end (): void {
    this.ended = true
    this.notify()
  }

  fail (err: unknown): void {
    this.failure = err
    this.notify()
  }

  private notify (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/**
 * The sending end: reads `source` only while the receiver has granted credit and posts each
 * chunk with its buffer transferred. `credit(n)` and `cancel()` come from the receiver.
 */
export class OutgoingStream {
  private credits = 0
  private cancelled = false
  private wake?: () => void
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>

  /** `initialCredit`: chunks the receiver lets us send before its first grant (STREAM_WINDOW when it uses `implicitWindow`). */
  constructor (source: ReadableStream<Uint8Array>, initialCredit = 0) {
    this.reader = source.getReader()
    this.credits = initialCredit
  }

  credit (n: number): void {
    this.credits += n
    this.notify()
  }

  cancel (reason?: unknown): void {
    if (this.cancelled) return
    this.cancelled = true
    this.reader.cancel(reason).catch(() => {})
    this.notify()
  }

  get isCancelled (): boolean {
    return this.cancelled
  }

  /**
   * Sends the whole source through `send`; resolves when it ended (true) or was cancelled
   * (false); rejects with the source's error. `idleTimeoutMs` cancels a receiver that stopped
   * granting credit (a page that went away).
   */
  async run (send: (bytes: ArrayBuffer) => void, idleTimeoutMs: number, beforeChunk?: (bytes: Uint8Array) => Promise<void>): Promise<boolean> {
    while (!this.cancelled) {
      if (this.credits <= 0) {
        const granted = await this.waitForCredit(idleTimeoutMs)
        if (!granted) {
          this.cancel(new Error('the receiver stopped reading'))
          break
        }
        continue
      }
      const { done, value } = await this.reader.read()
      if (done === true) return !this.cancelled
      if (this.cancelled) break
      await beforeChunk?.(value)
      this.credits--
      send(transferable(value))
    }
    return false
  }

  private async waitForCredit (timeoutMs: number): Promise<boolean> {
    return await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => { this.wake = undefined; resolve(false) }, timeoutMs)
      this.wake = () => { clearTimeout(timer); resolve(true) }
    })
  }

  private notify (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
