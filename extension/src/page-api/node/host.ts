/**
 * The page API inside the node's document. Each page reaches it through its own MessagePort,
 * bound at creation to the origin the bridge frame read from `location.ancestorOrigins`; every
 * message is checked, rate-limited per origin, and refused with 4100 unless the user let that
 * origin in. Fetches stream verified plaintext with credit-based backpressure; publishing
 * streams the page's file into the node; player frames get their bytes through the service
 * worker with the same protocol.
 *
 * @example
 * ```ts
 * const host = new PageApiHost({ node, db, askUser, playerUrl })
 * host.accept(port, 'https://site.example')
 * ```
 */
import {
  DisconnectedError, InvalidParamsError, RateLimitedError, UnauthorizedError, UserRejectedError, UnsupportedMethodError,
  PeerloomError, contentHead, errorToWire, parseLink, validatePageRequest, toBase64url
} from '@peerloom/shared'
import type { ContentHead, ContentStats, Manifest, OriginStats, PageParams, PublishResult, RefusalData } from '@peerloom/shared'
import { ConsentStore, askAgainAt, forgetOrigin } from './consent.ts'
import { DISMISSALS_BEFORE_QUIET, DISMISSAL_QUIET_MS, MAX_ACTIVE_PER_PORT, PLAYER_SESSION_TTL_MS, STREAM_IDLE_TIMEOUT_MS } from '../constants.ts'
import { OriginStatsBook } from './origin-stats.ts'
import type { PageApiDb } from './page-db.ts'
import { OriginRateLimit } from './rate-limit.ts'
import { CacheTimingGuard } from './timing-guard.ts'
import { IncomingStream, OutgoingStream, STREAM_WINDOW } from '../wire.ts'
import type { NodeMessage, PlayerStreamRequest } from '../wire.ts'
import { messageId, parsePageMessage } from './wire-schema.ts'
import { CALL_METHODS, PageCalls } from './call-host.ts'
import type { CallService } from '../../calls/call-service.ts'

/** What the page API needs from the node. */
export interface PageApiNode {
  openContent: (link: string, options: { range: (manifest: Manifest) => { start: number, end: number }, signal?: AbortSignal }) => Promise<{
    manifestCid: { toString: () => string }
    body: ReadableStream<Uint8Array>
    stats: { fromPeers: number, fromOrigin: number, fromCache: number }
  }>
  publish: (source: ReadableStream<Uint8Array>, options: { name: string, mime: string, chunkSize?: number, contentId?: string }) => Promise<{ link: string, manifest: string }>
  peerId: () => string | undefined
  /** For a keyless (gated) link: obtains the key now, so a page without access is told why at once. */
  prepareKey?: (link: string) => Promise<void>
}

export type ConsentAnswer = 'allowed' | 'denied' | 'dismissed'

export interface PageApiHostInit {
  node: PageApiNode
  db: PageApiDb
  /** Shows the consent prompt naming `origin`; resolves with the user's answer. */
  askUser: (origin: string) => Promise<ConsentAnswer>
  /** The player page's URL for a session token. */
  playerUrl: (token: string) => string
  rateLimit?: OriginRateLimit
  timing?: CacheTimingGuard
  /** Calls (docs/CALLS.md); without it the call methods answer 4200. */
  calls?: CallService
  /** ms since the epoch (tests move it). @default Date.now */
  now?: () => number
}

interface PlayerSession {
  origin: string
  link: string
  lastUsed: number
}

/** An origin a page may use Peerloom from: http(s) or file, never opaque. */
export function isUsableOrigin (origin: unknown): origin is string {
  if (typeof origin !== 'string' || origin.length > 300 || origin === 'null') return false
  try {
    const url = new URL(origin)
    return (url.protocol === 'https:' || url.protocol === 'http:') ? url.origin === origin : url.protocol === 'file:'
  } catch {
    return false
  }
}

/** "just now", "3 min ago", "2 h ago". */
function ago (ms: number): string {
  if (ms < 60_000) return 'just now'
  return ms < 2 * 60 * 60_000 ? `${Math.round(ms / 60_000)} min ago` : `${Math.round(ms / (60 * 60_000))} h ago`
}

/** A 4001 that says why, when the site may ask again and how the user can allow it now. */
function refusal (origin: string, reason: RefusalData['reason'], retryAfterMs: number, what: string): PeerloomError {
  const wait = Math.ceil(retryAfterMs / 60_000)
  const when = retryAfterMs <= 0 ? 'connect() will ask again' : `connect() may ask again in ${wait} min`
  const how = reason === 'denied' ? `; to allow it sooner, open Peerloom's Options → Sites and choose Allow for ${origin}` : ''
  return new UserRejectedError(`${what}; ${when}${how}`, { data: { reason, retryAfterMs: Math.max(0, Math.round(retryAfterMs)) } satisfies RefusalData })
}

export class PageApiHost {
  readonly consent: ConsentStore
  readonly stats: OriginStatsBook
  readonly timing: CacheTimingGuard
  private readonly node: PageApiNode
  private readonly db: PageApiDb
  private readonly askUser: (origin: string) => Promise<ConsentAnswer>
  private readonly playerUrl: (token: string) => string
  private readonly rateLimit: OriginRateLimit
  private readonly prompts = new Map<string, Promise<ConsentAnswer>>()
  private readonly players = new Map<string, PlayerSession>()
  /** Prompts closed unanswered in a row, per origin (memory only: a restart forgives them). */
  private readonly dismissals = new Map<string, { count: number, at: number }>()
  private readonly now: () => number
  readonly calls?: CallService

  constructor (init: PageApiHostInit) {
    this.node = init.node
    this.db = init.db
    this.consent = new ConsentStore(init.db)
    this.stats = new OriginStatsBook(init.db)
    this.timing = init.timing ?? new CacheTimingGuard({ db: init.db })
    this.askUser = init.askUser
    this.playerUrl = init.playerUrl
    this.rateLimit = init.rateLimit ?? new OriginRateLimit()
    this.now = init.now ?? Date.now
    if (init.calls !== undefined) this.calls = init.calls
  }

  /** Serves one page's port; `origin` is the page's, as the bridge frame read it. */
  accept (port: MessagePort, origin: string): void {
    if (!isUsableOrigin(origin)) {
      port.postMessage({ t: 'error', id: null, error: errorToWire(new UnauthorizedError(`Peerloom cannot be used from the origin ${String(origin).slice(0, 80)}`)) } satisfies NodeMessage)
      port.close()
      return
    }
    const session = new PageSession(this, port, origin)
    port.onmessage = event => { session.receive(event.data) }
    port.postMessage({ t: 'ready' } satisfies NodeMessage)
  }

  /** Answers one player-frame request that the service worker forwarded with its own port. */
  async servePlayerStream (port: MessagePort, request: PlayerStreamRequest): Promise<void> {
    const streams = new Map<number, OutgoingStream>()
    port.onmessage = event => {
      const data = event.data as { t?: unknown, n?: unknown }
      const stream = streams.get(0)
      if (data?.t === 'credit' && typeof data.n === 'number' && data.n > 0 && data.n <= 64) stream?.credit(data.n)
      else if (data?.t === 'cancel') stream?.cancel()
    }
    const send = (message: NodeMessage, transfer: Transferable[] = []): void => { port.postMessage(message, transfer) }
    try {
      const session = typeof request.token === 'string' ? this.players.get(request.token) : undefined
      if (session === undefined || Date.now() - session.lastUsed > PLAYER_SESSION_TTL_MS) throw new UnauthorizedError('this player has expired; ask for a new one')
      if (session.origin !== request.origin) throw new UnauthorizedError('this player belongs to another site')
      if (!(await this.consent.isAllowed(session.origin))) throw new UnauthorizedError(`${session.origin} is not allowed to use Peerloom`)
      session.lastUsed = Date.now()
      await this.serveContent(session.origin, session.link, request.range ?? undefined, 0, send, streams)
    } catch (err) {
      send({ t: 'error', id: 0, error: errorToWire(err) })
    } finally {
      port.close()
    }
  }

  /**
   * Resolves when `origin` is allowed. Without a decision it asks the user (one prompt per
   * origin at a time); after a Deny it refuses at once until the quiet time passed (then it
   * asks again), and so after several prompts closed unanswered. `prompt: false` never asks.
   */
  async connect (origin: string, options: { prompt?: boolean } = {}): Promise<{ peerId: string }> {
    const record = await this.consent.get(origin)
    if (record?.decision !== 'allowed') {
      const now = this.now()
      const deniedUntil = askAgainAt(record) ?? 0
      if (deniedUntil > now) throw refusal(origin, 'denied', deniedUntil - now, `you refused ${origin} ${ago(now - (record as { at: number }).at)}`)
      const dismissed = this.dismissals.get(origin)
      const dismissedUntil = dismissed !== undefined && dismissed.count >= DISMISSALS_BEFORE_QUIET ? dismissed.at + DISMISSAL_QUIET_MS : 0
      if (dismissedUntil > now) throw refusal(origin, 'dismissed', dismissedUntil - now, `the Peerloom prompt for ${origin} was closed unanswered ${dismissed!.count} times`)
      if (options.prompt === false) {
        if (record?.decision === 'denied') throw refusal(origin, 'denied', 0, `you refused ${origin} ${ago(now - record.at)}`)
        throw new UnauthorizedError(`${origin} has not connected to Peerloom yet; call peerloom.connect() to ask the user`)
      }
      const answer = await this.ask(origin)
      if (answer === 'dismissed') {
        const count = (this.dismissals.get(origin)?.count ?? 0) + 1
        this.dismissals.set(origin, { count, at: this.now() })
        throw refusal(origin, 'dismissed', count >= DISMISSALS_BEFORE_QUIET ? DISMISSAL_QUIET_MS : 0, 'the Peerloom prompt was closed without an answer')
      }
      this.dismissals.delete(origin)
      if (answer === 'denied') {
        const quiet = (askAgainAt(await this.consent.get(origin)) ?? 0) - this.now()
        throw refusal(origin, 'denied', Math.max(0, quiet), 'you chose Deny')
      }
    }
    const peerId = this.node.peerId()
    if (peerId === undefined) throw new DisconnectedError('the Peerloom node has not started yet; try again in a moment')
    return { peerId }
  }

  /** One prompt per origin at a time; every caller gets its answer, which is stored once. */
  private async ask (origin: string): Promise<ConsentAnswer> {
    let pending = this.prompts.get(origin)
    if (pending === undefined) {
      pending = this.askUser(origin).then(async answer => {
        if (answer !== 'dismissed') await this.consent.set(origin, answer, this.now())
        return answer
      }).finally(() => { this.prompts.delete(origin) })
      this.prompts.set(origin, pending)
    }
    return await pending
  }

  /** Forgets an origin: consent, stats and fetch history; its players stop working. */
  async revoke (origin: string): Promise<void> {
    await forgetOrigin(this.db, origin)
    for (const [token, session] of this.players) if (session.origin === origin) this.players.delete(token)
  }

  async authorised (origin: string): Promise<void> {
    if (!(await this.consent.isAllowed(origin))) throw new UnauthorizedError(`${origin} is not allowed to use Peerloom; call peerloom.connect() first`)
  }

  originStats (origin: string): Promise<OriginStats> {
    return this.stats.get(origin)
  }

  contentStats (origin: string): Promise<ContentStats[]> {
    return this.stats.content(origin)
  }

  /** Forgets player sessions (their page went away). */
  dropPlayers (tokens: Iterable<string>): void {
    for (const token of tokens) this.players.delete(token)
  }

  async player (origin: string, link: string): Promise<{ url: string, token: string }> {
    // a link without a key is gated content: the node asks the publisher's key service now (5011 with the reason if refused)
    if (parseLink(link).key === undefined) await this.node.prepareKey?.(link)
    const now = Date.now()
    // a session holds the link (and its key) only while it is in use
    for (const [old, session] of this.players) if (now - session.lastUsed > PLAYER_SESSION_TTL_MS) this.players.delete(old)
    const token = toBase64url(crypto.getRandomValues(new Uint8Array(18)))
    this.players.set(token, { origin, link, lastUsed: now })
    return { url: this.playerUrl(token), token }
  }

  /**
   * Opens `link` (Range `range`) for `origin` and streams it as `head`, `chunk`…, `end` with
   * request id `id`. Resolves when the stream ended or was cancelled.
   */
  async serveContent (origin: string, link: string, range: string | undefined, id: number, send: (message: NodeMessage, transfer?: Transferable[]) => void, streams: Map<number, OutgoingStream>): Promise<void> {
    // a link without a key is gated content: the node asks the publisher's key service (5011 with the reason if refused)
    parseLink(link)
    const startedAt = performance.now()
    let head: ContentHead | undefined
    let info: { name: string, size: number } | undefined
    const opened = await this.node.openContent(link, {
      range: manifest => {
        info = { name: manifest.name, size: manifest.size }
        head = contentHead(manifest, range)
        return head.range
      }
    })
    const firstTime = !(await this.timing.seen(origin, opened.manifestCid.toString()))
    const pacer = this.timing.pacer(startedAt, firstTime)
    const out = new OutgoingStream(opened.body, STREAM_WINDOW) // the receiver's first window is implicit
    streams.set(id, out)
    const { status, headers } = head as ContentHead
    send({ t: 'head', id, status, headers })
    let delivered = 0
    let firstByteMs: number | undefined
    try {
      const complete = await out.run(bytes => {
        firstByteMs ??= performance.now() - startedAt
        send({ t: 'chunk', id, bytes }, [bytes])
      }, STREAM_IDLE_TIMEOUT_MS, async chunk => {
        const fromCacheOnly = opened.stats.fromPeers + opened.stats.fromOrigin === 0
        await pacer.beforeChunk(chunk.length, fromCacheOnly)
        delivered += chunk.length
      })
      if (complete) send({ t: 'end', id })
    } finally {
      streams.delete(id)
      const { fromPeers, fromOrigin, fromCache } = opened.stats
      if (fromCache === 0 && firstByteMs !== undefined) this.timing.recordNetwork(firstByteMs, delivered, (performance.now() - startedAt) / 1000)
      // on a first read, cached bytes count as from peers: "from the cache" would reveal what someone else fetched
      const cid = opened.manifestCid.toString()
      await this.stats.addRead(origin, { cid, name: info?.name ?? '', size: info?.size ?? 0 }, {
        bytesDelivered: delivered,
        bytesFromPeers: fromPeers + (firstTime ? fromCache : 0),
        bytesFromOrigin: fromOrigin,
        bytesFromCache: firstTime ? 0 : fromCache
      })
    }
  }

  /** Streams a page's file into the node; `upload` is fed from the page's data messages. */
  async publish (origin: string, params: PageParams<'peerloom_publish'>, upload: IncomingStream): Promise<PublishResult> {
    let received = 0
    const checked = upload.stream.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        received += chunk.length
        if (received > params.size) throw new InvalidParamsError(`the page sent more than the ${params.size} bytes it announced`)
        controller.enqueue(chunk)
      },
      flush: () => {
        if (received !== params.size) throw new InvalidParamsError(`the page sent ${received} of the ${params.size} bytes it announced`)
      }
    }))
    const published = await this.node.publish(checked, {
      name: params.name,
      mime: params.mime,
      ...(params.chunkSize === undefined ? {} : { chunkSize: params.chunkSize }),
      ...(params.contentId === undefined ? {} : { contentId: params.contentId })
    })
    await this.timing.seen(origin, published.manifest) // its own content: its fetches need no guard
    await this.stats.addPublished(origin, { cid: published.manifest, name: params.name, size: params.size })
    return { link: published.link, cid: published.manifest }
  }

  takeCall (origin: string): void {
    if (!this.rateLimit.take(origin)) throw new RateLimitedError(`too many calls from ${origin}; try again in ${Math.ceil(this.rateLimit.retryAfter(origin) * 1000)} ms`)
  }
}

/** One page's port. */
class PageSession {
  private readonly host: PageApiHost
  private readonly port: MessagePort
  private readonly origin: string
  private readonly active = new Set<number>()
  private readonly streams = new Map<number, OutgoingStream>()
  private readonly uploads = new Map<number, IncomingStream>()
  /** Player sessions this page opened: they end with it. */
  private readonly players = new Set<string>()
  /** Calls this page joined: they end with it. */
  private pageCalls?: PageCalls

  constructor (host: PageApiHost, port: MessagePort, origin: string) {
    this.host = host
    this.port = port
    this.origin = origin
    port.addEventListener('close', () => { this.close() })
  }

  private readonly send = (message: NodeMessage, transfer: Transferable[] = []): void => {
    this.port.postMessage(message, transfer)
  }

  receive (data: unknown): void {
    let message
    try {
      message = parsePageMessage(data)
    } catch (err) {
      this.send({ t: 'error', id: messageId(data), error: errorToWire(err) })
      return
    }
    switch (message.t) {
      case 'req': void this.request(message.id, message.method, message.params); break
      case 'credit': this.streams.get(message.id)?.credit(message.n); break
      case 'cancel':
        this.streams.get(message.id)?.cancel(new Error('cancelled by the page'))
        this.uploads.get(message.id)?.fail(new UserRejectedError('the page cancelled the upload'))
        break
      case 'data': this.uploads.get(message.id)?.push(message.bytes); break
      case 'end': this.uploads.get(message.id)?.end(); break
    }
  }

  private async request (id: number, method: unknown, params: unknown): Promise<void> {
    try {
      this.host.takeCall(this.origin)
      if (this.active.has(id)) throw new InvalidParamsError(`request id ${id} is already in use`)
      if (this.active.size >= MAX_ACTIVE_PER_PORT) throw new RateLimitedError(`at most ${MAX_ACTIVE_PER_PORT} calls may run at once`)
      const call = validatePageRequest({ method, ...(params === undefined ? {} : { params }) })
      this.active.add(id)
      try {
        const result = await this.run(id, call)
        if (result !== undefined) this.send({ t: 'result', id, result })
      } finally {
        this.active.delete(id)
      }
    } catch (err) {
      this.send({ t: 'error', id, error: errorToWire(err) })
    }
  }

  /** Runs a validated call; fetches answer with a stream instead of a result (undefined). */
  private async run (id: number, call: ReturnType<typeof validatePageRequest>): Promise<unknown> {
    if (call.method === 'peerloom_connect') return await this.host.connect(this.origin, call.params as PageParams<'peerloom_connect'>)
    await this.host.authorised(this.origin)
    if (CALL_METHODS.has(call.method)) return await this.callMethod(id, call)
    switch (call.method) {
      case 'peerloom_stats': return await this.host.originStats(this.origin)
      case 'peerloom_contentStats': return await this.host.contentStats(this.origin)
      case 'peerloom_player': {
        const { url, token } = await this.host.player(this.origin, (call.params as PageParams<'peerloom_player'>).link)
        this.players.add(token)
        return { url }
      }
      case 'peerloom_fetch': {
        const params = call.params as PageParams<'peerloom_fetch'>
        await this.host.serveContent(this.origin, params.link, params.range, id, this.send, this.streams)
        return undefined
      }
      case 'peerloom_publish': {
        const upload = new IncomingStream(n => { this.send({ t: 'credit', id, n }) }, () => {})
        this.uploads.set(id, upload)
        try {
          return await this.host.publish(this.origin, call.params as PageParams<'peerloom_publish'>, upload)
        } finally {
          this.uploads.delete(id)
        }
      }
      default: throw new UnsupportedMethodError(`method ${String(call.method)} is not supported`)
    }
  }

  /** A `peerloom_call*` method; a join answers here itself, so its events can follow the answer. */
  private async callMethod (id: number, call: ReturnType<typeof validatePageRequest>): Promise<unknown> {
    const service = this.host.calls
    if (service === undefined) throw new UnsupportedMethodError('calls are not available in this Peerloom node')
    this.pageCalls ??= new PageCalls(service, this.origin, this.send)
    if (call.method !== 'peerloom_callJoin') return await this.pageCalls.handle(call.method, call.params)
    const result = await this.pageCalls.join(id, call.params as PageParams<'peerloom_callJoin'>)
    this.send({ t: 'result', id, result })
    this.pageCalls.started(id, result.callId)
    return undefined
  }

  private close (): void {
    this.pageCalls?.close()
    for (const stream of this.streams.values()) stream.cancel(new Error('the page went away'))
    for (const upload of this.uploads.values()) upload.fail(new UserRejectedError('the page went away'))
    this.host.dropPlayers(this.players)
  }
}
