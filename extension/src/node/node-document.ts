/**
 * The offscreen document the node lives in (reason WEB_RTC: it holds RTCPeerConnections).
 * The service worker makes sure it exists; the document outlives the worker.
 */
import { DisconnectedError } from '@peerloom/shared'
import type { NodeResponse } from './rpc.ts'

export const NODE_DOCUMENT_PATH = '/offscreen.html'

let creating: Promise<void> | undefined

/** Creates the node's document unless it is already open. */
export async function ensureNodeDocument (): Promise<void> {
  const url = chrome.runtime.getURL(NODE_DOCUMENT_PATH)
  const contexts = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT], documentUrls: [url] })
  if (contexts.length > 0) return
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
