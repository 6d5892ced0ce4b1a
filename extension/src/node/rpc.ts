/**
 * The node's request channel for the extension's own pages (popup, options, tests): one
 * JSON request in, one JSON answer out. Web pages cannot reach it: the service worker
 * forwards only messages whose sender is a page of this extension. Every request is
 * checked against its schema before the node sees it.
 */
import { InvalidParamsError, UnsupportedMethodError, errorToWire } from '@peerloom/shared'
import type { WireError } from '@peerloom/shared'
import { z } from 'zod'
import type { PeerloomNode } from './node.ts'
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
  forgetSite: z.strictObject({ origin: z.string().min(1).max(300) })
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
    return { ok: false, error: errorToWire(err) }
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
    case 'startTransfer': return transfers.start(params?.link as string)
    case 'transfer': {
      const state = transfers.get(params?.id as string)
      if (state === undefined) throw new InvalidParamsError(`no transfer ${String(params?.id)}; the node may have restarted`)
      return state
    }
  }
}
