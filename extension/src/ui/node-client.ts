/**
 * How the popup and options pages talk to the node (through the service worker). The UI sees
 * the node only through this: its RPC, its events, and the types of its answers, re-exported here.
 */
import { errorFromWire } from '@peerloom/shared'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import type { NodeEarnings, NodeError, NodeStatus } from '../node/node.ts'
import type { NODE_EVENTS_PORT } from '../node/node-document.ts'
import type { NodeEventBatch, NodeEventPortMessage, NodeMethod, NodeResponse, SiteRecord } from '../node/rpc.ts'
import type { HistorySeries } from '../blocks/transfer-history.ts'
import type { TransferState } from '../node/transfers.ts'
import type { ClientUsage, ContentRecord } from '../storage/state-db.ts'
import type { RelayStatus } from '../net/relay-keeper.ts'

export type { ClientUsage, ContentRecord, HistorySeries, NodeEarnings, NodeError, NodeEventBatch, NodeStatus, RelayStatus, SiteRecord, TransferState }

export async function callNode<T> (method: NodeMethod, params?: unknown): Promise<T> {
  const response = await chrome.runtime.sendMessage({ to: 'node', method, params }) as NodeResponse | undefined
  if (response === undefined) throw errorFromWire({ code: 4900, message: 'the extension did not answer; reload it from chrome://extensions' })
  if (!response.ok) throw errorFromWire(response.error)
  return response.result as T
}

export const nodeClient = {
  status: async () => await callNode<NodeStatus>('status'),
  history: async (buckets?: number) => await callNode<HistorySeries>('history', buckets === undefined ? undefined : { buckets }),
  settings: async () => await callNode<NodeSettings>('settings'),
  updateSettings: async (patch: NodeSettingsInput) => await callNode<NodeSettings>('updateSettings', patch),
  servedClients: async () => await callNode<ClientUsage[]>('servedClients'),
  contents: async () => await callNode<ContentRecord[]>('contents'),
  transfers: async () => await callNode<TransferState[]>('transfers'),
  earnings: async () => await callNode<NodeEarnings>('earnings'),
  claimRewards: async () => await callNode<NodeEarnings>('claimRewards'),
  clearCache: async () => { await callNode('clearCache') },
  resetIdentity: async () => { await callNode('resetIdentity') },
  sites: async () => await callNode<SiteRecord[]>('sites'),
  allowSite: async (origin: string) => { await callNode('allowSite', { origin }) },
  forgetSite: async (origin: string) => { await callNode('forgetSite', { origin }) }
}

/** The events port's name, spelled here and checked against the worker's (node-document.ts) by the compiler. */
const EVENTS_PORT: typeof NODE_EVENTS_PORT = 'peerloom:node-events'

/**
 * Silence on the port after which the page takes the worker for stopped and connects again,
 * ms: the worker sends something at least every 5 s (EVENTS_WAIT_MS in node/node-document.ts);
 * the rest is room for a busy machine.
 * @default 20_000
 */
const EVENTS_SILENCE_MS = 20_000

/** The first wait before connecting again after the port closed, ms; doubled per failure. @default 250 */
const RECONNECT_MIN_MS = 250
/** The longest wait between reconnections, ms. @default 5000 */
const RECONNECT_MAX_MS = 5000

export interface NodeSubscriber {
  /** Events from the node; a `snapshot` batch replaces what the page knew (first one, and after a reconnection). */
  onBatch: (batch: NodeEventBatch) => void
  /** The node cannot be reached now (the message says why); the subscription keeps trying. */
  onProblem: (message: string) => void
}

/**
 * Subscribes to the node's events: a port to the service worker, which relays them. Chrome
 * stops the worker when it is idle, which closes the port: the page connects again (a new
 * worker starts for it) and gets a snapshot. Returns the unsubscribe.
 */
export function subscribeToNode (subscriber: NodeSubscriber): () => void {
  let port: chrome.runtime.Port | undefined
  let retry: ReturnType<typeof setTimeout> | undefined
  let watchdog: ReturnType<typeof setTimeout> | undefined
  let delay = RECONNECT_MIN_MS
  let closed = false
  const reconnect = (): void => {
    clearTimeout(watchdog)
    port?.disconnect()
    port = undefined
    if (closed) return
    retry = setTimeout(connect, delay)
    delay = Math.min(RECONNECT_MAX_MS, delay * 2)
  }
  const heard = (): void => {
    clearTimeout(watchdog)
    watchdog = setTimeout(reconnect, EVENTS_SILENCE_MS)
  }
  const connect = (): void => {
    let opened: chrome.runtime.Port
    try {
      opened = chrome.runtime.connect({ name: EVENTS_PORT })
    } catch (err) {
      // the extension was reloaded or removed under this page: say so, and keep trying
      subscriber.onProblem(`${(err as Error).message}; reopen this page`)
      reconnect()
      return
    }
    port = opened
    heard()
    opened.onMessage.addListener((message: NodeEventPortMessage) => {
      if (opened !== port) return
      heard()
      if ('error' in message) {
        subscriber.onProblem(errorFromWire(message.error).message)
        return
      }
      delay = RECONNECT_MIN_MS
      subscriber.onBatch(message)
    })
    opened.onDisconnect.addListener(() => {
      // reading lastError marks it handled (a worker that was stopped leaves one)
      void chrome.runtime.lastError
      if (opened === port) reconnect()
    })
  }
  connect()
  return () => {
    closed = true
    clearTimeout(retry)
    clearTimeout(watchdog)
    port?.disconnect()
  }
}
