/**
 * `window.peerloom` as a page sees it. Runs in the page's main world, so it holds nothing
 * secret and trusts nothing: it only frames calls for the node, which checks them. Bytes move
 * over a MessagePort that the extension's bridge frame hands to the node, bound to this page's
 * origin.
 */
import { ErrorCode, PeerloomError, errorFromWire } from '@peerloom/shared/errors'
import { ProgressMeter } from '@peerloom/shared/progress'
import type { CallJoinOptions, ConnectOptions, ConnectResult, ContentStats, OriginStats, PeerloomProvider, PlayerOptions, PublishOptions, PublishResult } from '@peerloom/shared/provider'
import { BRIDGE_TIMEOUT_MS, PUBLISH_SLICE_BYTES } from '../constants.ts'
import { IncomingStream } from '../wire.ts'
import { joinCall } from './call.ts'
import type { CallEventSink } from './call.ts'
import { OPEN_BRIDGE_MESSAGE } from '../wire.ts'
import type { NodeMessage, PageMessage } from '../wire.ts'

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  /** Set once the node answered with a stream head. */
  body?: IncomingStream
  /** Publishing: the node asks for more of the file. */
  onCredit?: (n: number) => void
}

function disconnected (message: string): PeerloomError {
  return new PeerloomError(ErrorCode.DISCONNECTED, message)
}

/** Connects lazily to the node and routes answers to calls. */
class NodeConnection {
  private port?: MessagePort
  private ready?: Promise<MessagePort>
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  /** Calls joined by request id: the node pushes their events under that id. */
  private readonly sinks = new Map<number, CallEventSink>()

  private async connect (): Promise<MessagePort> {
    this.ready ??= new Promise<MessagePort>((resolve, reject) => {
      const channel = new MessageChannel()
      const port = channel.port1
      const timer = setTimeout(() => {
        this.ready = undefined
        port.close()
        reject(disconnected('the Peerloom extension did not answer; is it enabled?'))
      }, BRIDGE_TIMEOUT_MS)
      port.onmessage = event => {
        const message = event.data as NodeMessage
        if (message?.t === 'ready') {
          clearTimeout(timer)
          this.port = port
          resolve(port)
          return
        }
        if (this.port === undefined && message?.t === 'error' && message.id === null) {
          clearTimeout(timer)
          this.ready = undefined
          reject(errorFromWire(message.error))
          return
        }
        this.dispatch(message)
      }
      port.addEventListener('close', () => { this.lost() })
      window.postMessage({ peerloom: OPEN_BRIDGE_MESSAGE }, '*', [channel.port2])
    })
    return await this.ready
  }

  /** The node went away (extension reloaded): fail what is pending; the next call reconnects. */
  private lost (): void {
    this.port = undefined
    this.ready = undefined
    for (const [id, pending] of this.pending) {
      this.pending.delete(id)
      const err = disconnected('the connection to Peerloom was lost')
      if (pending.body !== undefined) pending.body.fail(err)
      else pending.reject(err)
    }
    for (const [id, sink] of this.sinks) {
      this.sinks.delete(id)
      sink.lost()
    }
  }

  private dispatch (message: NodeMessage): void {
    if (typeof message !== 'object' || message === null || !('id' in message) || typeof message.id !== 'number') return
    if (message.t === 'event') {
      this.sinks.get(message.id)?.event(message.event)
      return
    }
    const pending = this.pending.get(message.id)
    if (pending === undefined) return
    switch (message.t) {
      case 'result':
        this.pending.delete(message.id)
        pending.resolve(message.result)
        break
      case 'error': {
        this.pending.delete(message.id)
        const err = errorFromWire(message.error)
        if (pending.body !== undefined) pending.body.fail(err)
        else pending.reject(err)
        break
      }
      case 'head': {
        const id = message.id
        pending.body = new IncomingStream(
          n => { this.post({ t: 'credit', id, n }) },
          () => { this.pending.delete(id); this.post({ t: 'cancel', id }) },
          { implicitWindow: true }
        )
        pending.resolve(new Response(pending.body.stream, { status: message.status, headers: message.headers }))
        break
      }
      case 'chunk': pending.body?.push(message.bytes); break
      case 'end':
        this.pending.delete(message.id)
        pending.body?.end()
        break
      case 'credit': pending.onCredit?.(message.n); break
    }
  }

  post (message: PageMessage, transfer: Transferable[] = []): void {
    this.port?.postMessage(message, transfer)
  }

  /** Sends a request; resolves with its result, or a Response when the node streams. */
  async call (method: string, params: unknown, options: { signal?: AbortSignal, onCredit?: (id: number, n: number) => void, events?: CallEventSink } = {}): Promise<unknown> {
    const port = await this.connect()
    const id = this.nextId++
    const events = options.events
    if (events !== undefined) {
      this.sinks.set(id, events)
      events.close = () => { this.sinks.delete(id) }
    }
    const answer = new Promise((resolve, reject) => {
      const entry: Pending = { resolve, reject }
      if (options.onCredit !== undefined) {
        const onCredit = options.onCredit
        entry.onCredit = n => { onCredit(id, n) }
      }
      this.pending.set(id, entry)
      const signal = options.signal
      if (signal !== undefined) {
        const abort = (): void => {
          const current = this.pending.get(id)
          if (current === undefined) return
          this.pending.delete(id)
          this.post({ t: 'cancel', id })
          const reason = signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError')
          if (current.body !== undefined) current.body.fail(reason)
          else reject(reason)
        }
        if (signal.aborted) { abort(); return }
        signal.addEventListener('abort', abort, { once: true })
      }
      try {
        port.postMessage({ t: 'req', id, method, ...(params === undefined ? {} : { params }) } satisfies PageMessage)
      } catch (err) {
        this.pending.delete(id)
        reject(new PeerloomError(ErrorCode.INVALID_PARAMS, `params cannot be sent: ${(err as Error).message}`))
      }
    })
    // a failed join pushes nothing more
    if (events !== undefined) answer.catch(() => { this.sinks.delete(id) })
    return await answer
  }
}

/** Sends `file` in slices as the node grants credit; resolves once every byte went out. */
function sendFile (connection: NodeConnection, file: Blob, onProgress?: PublishOptions['onProgress']): { onCredit: (id: number, n: number) => void } {
  const meter = new ProgressMeter(file.size)
  let credit = 0
  let offset = 0
  let sending = false
  let ended = false
  const pump = async (id: number): Promise<void> => {
    if (sending || ended) return
    sending = true
    try {
      while (credit > 0 && offset < file.size) {
        const end = Math.min(file.size, offset + PUBLISH_SLICE_BYTES)
        const bytes = await file.slice(offset, end).arrayBuffer()
        credit--
        offset = end
        connection.post({ t: 'data', id, bytes }, [bytes])
        onProgress?.(meter.update(offset))
      }
      if (offset >= file.size) {
        ended = true
        connection.post({ t: 'end', id })
      }
    } finally {
      sending = false
    }
  }
  return {
    onCredit: (id, n) => {
      credit += n
      void pump(id)
    }
  }
}

function headerRange (headers: HeadersInit | undefined): string | undefined {
  const range = new Headers(headers).get('range')
  return range === null ? undefined : range
}

/** Builds `window.peerloom`. */
export function createProvider (): PeerloomProvider {
  const connection = new NodeConnection()
  const provider: PeerloomProvider = {
    isPeerloom: true,
    connect: async (options: ConnectOptions = {}) => await connection.call('peerloom_connect', options.prompt === undefined ? {} : { prompt: options.prompt }) as ConnectResult,
    stats: async () => await connection.call('peerloom_stats', {}) as OriginStats,
    contentStats: async () => await connection.call('peerloom_contentStats', {}) as ContentStats[],
    fetch: async (link, init) => {
      const range = headerRange(init?.headers)
      return await connection.call('peerloom_fetch', { link, ...(range === undefined ? {} : { range }) }, init?.signal === undefined ? {} : { signal: init.signal }) as Response
    },
    player: async (link: string, options: PlayerOptions = {}) => {
      const { url } = await connection.call('peerloom_player', { link }) as { url: string }
      const frame = document.createElement('iframe')
      const flags = new URLSearchParams({ controls: String(options.controls ?? true), muted: String(options.muted ?? false), autoplay: String(options.autoplay ?? false) })
      frame.src = `${url}&${flags.toString()}`
      frame.allow = 'autoplay; fullscreen; picture-in-picture'
      frame.allowFullscreen = true
      frame.title = 'Peerloom player'
      frame.style.cssText = 'border:0;width:100%;aspect-ratio:16/9;background:#000'
      frame.dataset.peerloomPlayer = ''
      return frame
    },
    publish: async (file: Blob, options: PublishOptions = {}) => {
      if (!(file instanceof Blob)) throw new PeerloomError(ErrorCode.INVALID_PARAMS, 'publish(file): file must be a Blob or File')
      const name = options.name ?? ((file as File).name || 'file')
      const mime = options.mime ?? (file.type === '' ? 'application/octet-stream' : file.type)
      const sender = sendFile(connection, file, options.onProgress)
      const params = {
        name,
        mime,
        size: file.size,
        ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
        ...(options.contentId === undefined ? {} : { contentId: options.contentId })
      }
      return await connection.call('peerloom_publish', params, { onCredit: sender.onCredit }) as PublishResult
    },
    request: async (request: { method: string, params?: unknown }) => {
      if (typeof request !== 'object' || request === null) throw new PeerloomError(ErrorCode.INVALID_PARAMS, 'request must be an object { method, params }')
      const { method, params } = request
      if (method === 'peerloom_publish') throw new PeerloomError(ErrorCode.UNSUPPORTED_METHOD, 'publishing needs the file: call peerloom.publish(file, options)')
      return await connection.call(method, params)
    },
    call: Object.freeze({
      join: async (room: string, options: CallJoinOptions) => await joinCall(connection, room, options)
    })
  }
  return Object.freeze(provider)
}
