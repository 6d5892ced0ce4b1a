/**
 * The offscreen document the node lives in (reason WEB_RTC: it holds RTCPeerConnections).
 * The service worker makes sure it exists; the document outlives the worker.
 */
import { logger } from '@libp2p/logger'
import { DisconnectedError, errorToWire } from '@peerloom/shared'
import type { NodeEventBatch, NodeEventCursor, NodeEventPortMessage, NodeResponse } from './rpc.ts'

export const NODE_DOCUMENT_PATH = '/offscreen.html'

/** The name of a page's port for the node's events, which the service worker relays (relayNodeEvents). */
export const NODE_EVENTS_PORT = 'peerloom:node-events'

let creating: Promise<void> | undefined

const log = logger('peerloom:worker')

/** Creates the node's document unless it is already open. */
export async function ensureNodeDocument (): Promise<void> {
  const url = chrome.runtime.getURL(NODE_DOCUMENT_PATH)
  const contexts = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT], documentUrls: [url] })
  if (contexts.length > 0) return
  if (creating === undefined) log('creating the node document')
  creating ??= chrome.offscreen.createDocument({
    url: NODE_DOCUMENT_PATH,
    reasons: [chrome.offscreen.Reason.WEB_RTC],
    justification: 'Runs the Peerloom node: WebRTC connections to peers and the block cache.'
  }).catch(async (err: Error) => {
    // another caller created it first
    const again = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT], documentUrls: [url] })
    if (again.length === 0) throw err
  }).finally(() => { creating = undefined })
  await creating
}

/**
 * Attempts to reach a just-created document before its listener is registered.
 * @default 40 (× 50 ms)
 */
const DELIVERY_ATTEMPTS = 40

/** Forwards a request to the node's document, creating the document if it is missing. */
export async function forwardToNode (method: string, params: unknown): Promise<NodeResponse> {
  for (let attempt = 0; ; attempt++) {
    await ensureNodeDocument()
    try {
      const response = await chrome.runtime.sendMessage({ to: 'offscreen', method, params }) as NodeResponse | undefined
      if (response !== undefined) return response
    } catch (err) {
      if (attempt >= DELIVERY_ATTEMPTS) throw new DisconnectedError(`the node did not answer: ${(err as Error).message}; reload the extension`)
    }
    if (attempt >= DELIVERY_ATTEMPTS) throw new DisconnectedError('the node did not answer; reload the extension')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/**
 * How long each `events` request waits in the node for something to happen, ms. Its answer,
 * events or none, goes to the page either way: the page's sign that this worker still relays
 * (EVENTS_SILENCE_MS in ui/node-client.ts).
 * @default 5_000
 */
const EVENTS_WAIT_MS = 5_000

/** After the node did not answer an `events` request, the wait before the next, ms. @default 1000 */
const EVENTS_RETRY_MS = 1000

/**
 * Relays the node's events to a page's port until the page closes it: one `events` request
 * at a time, each from where the last one ended, so the page sees each change once, and at
 * least one message per EVENTS_WAIT_MS. When Chrome stops this worker the page's port need not
 * close (the node's document holds the other end of every runtime port too), so the page
 * goes by that silence: it connects again, to a new worker, and starts from a snapshot.
 */
export async function relayNodeEvents (port: chrome.runtime.Port): Promise<void> {
  let open = true
  port.onDisconnect.addListener(() => { open = false })
  const send = (message: NodeEventPortMessage): void => {
    try {
      port.postMessage(message)
    } catch {
      open = false // the page went away between the check and the send
    }
  }
  let cursor: NodeEventCursor | undefined
  while (open) {
    let response: NodeResponse
    try {
      response = await forwardToNode('events', { ...(cursor === undefined ? {} : { after: cursor }), waitMs: EVENTS_WAIT_MS })
    } catch (err) {
      response = { ok: false, error: errorToWire(err) }
    }
    if (!open) return
    if (response.ok) {
      const batch = response.result as NodeEventBatch
      cursor = { feed: batch.feed, seq: batch.seq }
      send(batch)
    } else {
      log('node events could not be read: %s', response.error.message)
      send({ error: response.error })
      await new Promise(resolve => setTimeout(resolve, EVENTS_RETRY_MS))
    }
  }
}
