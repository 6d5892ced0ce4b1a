/**
 * The node's request channel for the extension's own pages (popup, options, tests): one
 * JSON request in, one JSON answer out. Web pages cannot reach it: the service worker
 * forwards only messages whose sender is a page of this extension. Every request is
 * checked against its schema before the node sees it.
 *
 * The node's events reach the pages through it too: `events` answers with what happened
 * after the caller's cursor, waiting for it (a long poll the service worker keeps open for
 * each page's port, node-document.ts), so the pages are told of changes instead of asking.
 */
import { logger } from '@libp2p/logger'
import { InvalidParamsError, UnsupportedMethodError, errorToWire } from '@peerloom/shared'
import type { NodeSettings, WireError } from '@peerloom/shared'
import { toString as bytesToHex } from 'uint8arrays/to-string'
import { z } from 'zod'
import { CHART_BUCKETS } from '../blocks/transfer-history.ts'
import type { HistorySeries } from '../blocks/transfer-history.ts'
import type { NodeEarnings, NodeError, NodeEvents, NodeStatus, PeerloomNode } from './node.ts'
import type { TransferBook } from './transfers.ts'

/** What travels from a page to the service worker. */
export interface NodeRequest {
  to: 'node'
  method: string
  params?: unknown
}

/** A site's answer to the page API's consent prompt, as Options → Sites lists it. */
export interface SiteRecord {
  origin: string
  decision: 'allowed' | 'denied'
  /** ms since the epoch. */
  at: number
}

/** The page API's consent, reached through the node so that no page opens its database. */
export interface SiteConsent {
  list: () => Promise<SiteRecord[]>
  /** The user's own Allow, given in Options instead of a prompt. */
  allow: (origin: string) => Promise<void>
  /** Forgets the site (consent, stats, players): it must ask again. */
  forget: (origin: string) => Promise<void>
}

/** What the request channel needs: the node, its transfers and the page API's consent. */
export interface NodeRpcComponents {
  node: PeerloomNode
  transfers: TransferBook
  sites: SiteConsent
}

export type NodeResponse = { ok: true, result: unknown } | { ok: false, error: WireError }

/** One of the node's events (node.ts, NodeEvents), as the pages receive it. */
export type NodeEventMessage =
  | { type: 'status', detail: NodeStatus }
  | { type: 'settings', detail: NodeSettings }
  | { type: 'history', detail: HistorySeries }
  | { type: 'earnings', detail: NodeEarnings }
  | { type: 'error', detail: NodeError }

/** Where a reader of the events stands: the feed (one per node document's life) and the last event seen. */
export interface NodeEventCursor {
  feed: string
  seq: number
}

/**
 * The events after a cursor. `snapshot`: the cursor was of no feed or of an earlier one (the
 * node document started again), so `events` is the whole current state — status, settings,
 * history, earnings and the errors kept — and a page starts over from it.
 */
export interface NodeEventBatch extends NodeEventCursor {
  snapshot: boolean
  events: NodeEventMessage[]
}

/** What a page's events port carries: a batch of events, or why the node could not be reached. */
export type NodeEventPortMessage = NodeEventBatch | { error: WireError }

/** The longest an `events` request waits for something to happen, ms. @default 30_000 */
export const MAX_EVENTS_WAIT_MS = 30_000

/** Errors a feed keeps for readers that are behind (as many as the node keeps). */
const FEED_ERRORS = 20

type StateEvent = 'status' | 'settings' | 'history' | 'earnings'
const STATE_EVENTS: StateEvent[] = ['status', 'settings', 'history', 'earnings']

/** What a feed needs of the node: its events, and its current state for a snapshot. */
export type NodeEventSource = Pick<PeerloomNode, 'addEventListener' | 'status' | 'settings' | 'historySeries' | 'earnings'>

/**
 * The node's events kept for readers that ask for them in turn (the pages, through the
 * service worker): the latest of each state event and the last errors, numbered. A reader
 * that fell behind gets only the newest state, which is all a page shows.
 */
export class NodeEventFeed {
  /** Tells this feed's cursors from an earlier document's. */
  readonly id = bytesToHex(crypto.getRandomValues(new Uint8Array(8)), 'base16')
  private readonly node: NodeEventSource
  private seq = 0
  private readonly latest = new Map<StateEvent, { seq: number, message: NodeEventMessage }>()
  private readonly errors: Array<{ seq: number, message: NodeEventMessage }> = []
  private readonly waiters = new Set<() => void>()

  constructor (node: NodeEventSource) {
    this.node = node
    for (const type of STATE_EVENTS) {
      node.addEventListener(type, (event: NodeEvents[typeof type]) => { this.push({ type, detail: event.detail } as NodeEventMessage) })
    }
    node.addEventListener('error', event => { this.push({ type: 'error', detail: event.detail }) })
  }

  private push (message: NodeEventMessage): void {
    const entry = { seq: ++this.seq, message }
    if (message.type === 'error') {
      this.errors.push(entry)
      if (this.errors.length > FEED_ERRORS) this.errors.shift()
    } else this.latest.set(message.type, entry)
    for (const wake of this.waiters) wake()
  }

  private after (seq: number): NodeEventMessage[] {
    return [...this.latest.values(), ...this.errors].filter(e => e.seq > seq).sort((a, b) => a.seq - b.seq).map(e => e.message)
  }

  /** What happened after `cursor`, waiting up to `waitMs` for something; without a cursor of this feed, a snapshot. */
  async next (cursor: NodeEventCursor | undefined, waitMs: number): Promise<NodeEventBatch> {
    if (cursor?.feed !== this.id || cursor.seq > this.seq) return await this.snapshot()
    if (this.after(cursor.seq).length === 0 && waitMs > 0) {
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve() }
        const timer = setTimeout(done, waitMs)
        this.waiters.add(done)
      })
    }
    return { feed: this.id, seq: this.seq, snapshot: false, events: this.after(cursor.seq) }
  }

  private async snapshot (): Promise<NodeEventBatch> {
    // taken first: an event that lands while the earnings are read is sent again, not missed
    const seq = this.seq
    const status = this.node.status()
    const events: NodeEventMessage[] = [{ type: 'status', detail: status }]
    // before the node loaded them, settings and earnings come later, as events
    try { events.push({ type: 'settings', detail: this.node.settings() }) } catch { /* not loaded yet */ }
    events.push({ type: 'history', detail: this.node.historySeries(CHART_BUCKETS) })
    try { events.push({ type: 'earnings', detail: await this.node.earnings() }) } catch { /* rewards not started yet */ }
    for (const error of status.errors) events.push({ type: 'error', detail: error })
    return { feed: this.id, seq, snapshot: true, events }
  }
}

const log = logger('peerloom:rpc')

/** One feed per node, made when a page first asks for events. */
const feeds = new WeakMap<object, NodeEventFeed>()

const empty = z.undefined().or(z.strictObject({}))

const methods = {
  status: empty,
  history: z.strictObject({ buckets: z.number().int().min(2).max(360).optional() }).optional(),
  settings: empty,
  updateSettings: z.record(z.string(), z.unknown()),
  servedClients: empty,
  contents: empty,
  clearCache: empty,
  resetIdentity: empty,
  transfers: empty,
  /** Test hook and popup: read a link to the end in the background. */
  startTransfer: z.strictObject({ link: z.string().max(512) }),
  transfer: z.strictObject({ id: z.string().max(16) }),
  /** Rewards as a donor: pending, submitted, paid (popup). */
  earnings: empty,
  /** Close the reward epoch and claim it now (popup button, tests). */
  claimRewards: empty,
  /** Send the receipts still owed to servers now (tests). */
  flushReceipts: empty,
  /** Options → Sites: every site's answer, most recent first. */
  sites: empty,
  allowSite: z.strictObject({ origin: z.string().min(1).max(300) }),
  forgetSite: z.strictObject({ origin: z.string().min(1).max(300) }),
  /** The node's events after a cursor (the service worker relays them to a page's port). */
  events: z.strictObject({
    after: z.strictObject({ feed: z.string().max(32), seq: z.number().int().min(0) }).optional(),
    waitMs: z.number().int().min(0).max(MAX_EVENTS_WAIT_MS).optional()
  }).optional()
} as const

export type NodeMethod = keyof typeof methods

export function isNodeMethod (method: unknown): method is NodeMethod {
  return typeof method === 'string' && Object.hasOwn(methods, method)
}

/** Runs one request against the node; never throws. */
export async function handleNodeRequest (components: NodeRpcComponents, request: { method: unknown, params?: unknown }): Promise<NodeResponse> {
  try {
    if (!isNodeMethod(request.method)) throw new UnsupportedMethodError(`unknown method ${JSON.stringify(request.method)?.slice(0, 40)}`)
    const parsed = methods[request.method].safeParse(request.params)
    if (!parsed.success) throw new InvalidParamsError(`${request.method}: ${parsed.error.issues[0]?.message ?? 'invalid parameters'}`)
    const params = parsed.data as Record<string, unknown> | undefined
    return { ok: true, result: await run(components, request.method, params) }
  } catch (err) {
    const error = errorToWire(err)
    log('%s failed: %d %s', String(request.method).slice(0, 40), error.code, error.message)
    return { ok: false, error }
  }
}

async function run ({ node, transfers, sites }: NodeRpcComponents, method: NodeMethod, params: Record<string, unknown> | undefined): Promise<unknown> {
  switch (method) {
    case 'status': return node.status()
    case 'history': return node.historySeries(params?.buckets as number | undefined)
    case 'settings': return node.settings()
    case 'updateSettings': return await node.updateSettings(params as never)
    case 'servedClients': return node.servedClients()
    case 'contents': return await node.contents()
    case 'clearCache': return await node.clearCache()
    case 'resetIdentity': return await node.resetIdentity()
    case 'transfers': return transfers.list()
    case 'earnings': return await node.earnings()
    case 'claimRewards': return await node.claimRewards()
    case 'flushReceipts': return await node.flushReceipts()
    case 'sites': return await sites.list()
    case 'allowSite': return await sites.allow(params?.origin as string)
    case 'forgetSite': return await sites.forget(params?.origin as string)
    case 'events': {
      let feed = feeds.get(node)
      if (feed === undefined) feeds.set(node, feed = new NodeEventFeed(node))
      return await feed.next(params?.after as NodeEventCursor | undefined, (params?.waitMs as number | undefined) ?? 0)
    }
    case 'startTransfer': return transfers.start(params?.link as string)
    case 'transfer': {
      const state = transfers.get(params?.id as string)
      if (state === undefined) throw new InvalidParamsError(`no transfer ${String(params?.id)}; the node may have restarted`)
      return state
    }
  }
}
