/**
 * The service worker's part of the page API. It stays a router: it hands each page's port
 * (from the bridge frame) to the node's document, opens the consent window when the node asks,
 * and answers the player frame's `/stream/<token>` requests by pulling bytes from the node over
 * a fresh MessageChannel. It keeps no state: a stopped worker loses nothing.
 */
import { ensureNodeDocument, NODE_DOCUMENT_PATH } from '../../node/node-document.ts'
import { STREAM_PATH } from '../constants.ts'
import { IncomingStream } from '../wire.ts'
import type { BridgePortMessage, NodeMessage, OpenConsentMessage, PlayerStreamRequest } from '../wire.ts'


/** Attempts to find the node's document among the worker's clients. @default 60 (× 50 ms) */
const CLIENT_ATTEMPTS = 60

/** The parts of the service worker's scope used here (the project type-checks with the DOM lib). */
export interface WorkerClient {
  url: string
  postMessage: (message: unknown, transfer: Transferable[]) => void
}
export interface WorkerMessageEvent {
  data: unknown
  source: WorkerClient | null
  ports: readonly MessagePort[]
  waitUntil: (promise: Promise<unknown>) => void
}
declare const self: { clients: { matchAll: (options: { includeUncontrolled: boolean, type: 'window' }) => Promise<WorkerClient[]> } }

/** The node's document as a client of this worker, created if missing. */
async function nodeClient (): Promise<WorkerClient> {
  const url = chrome.runtime.getURL(NODE_DOCUMENT_PATH)
  for (let attempt = 0; attempt < CLIENT_ATTEMPTS; attempt++) {
    await ensureNodeDocument()
    const all = await self.clients.matchAll({ includeUncontrolled: true, type: 'window' })
    const client = all.find(c => c.url === url)
    if (client !== undefined) return client
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('the node document did not appear')
}

/** Passes a page's port from the bridge frame to the node. Returns false if the message is not one. */
export function routeBridgeMessage (event: WorkerMessageEvent): boolean {
  const data = event.data as Partial<BridgePortMessage> | null
  if (data?.type !== 'peerloom:page-port') return false
  const source = event.source
  const port = event.ports[0]
  // only our bridge page speaks for a page; it read the origin from location.ancestorOrigins
  if (source === null || !source.url.startsWith(chrome.runtime.getURL('/bridge.html')) || port === undefined || typeof data.origin !== 'string') return true
  const message: BridgePortMessage = { type: 'peerloom:page-port', origin: data.origin }
  event.waitUntil(nodeClient().then(client => { client.postMessage(message, [port]) }).catch((err: Error) => {
    port.postMessage({ t: 'error', id: null, error: { code: 4900, message: `the Peerloom node is not running: ${err.message}` } } satisfies NodeMessage)
  }))
  return true
}

/** Opens the consent window the node asked for. */
export async function openConsentWindow (message: OpenConsentMessage): Promise<void> {
  const url = chrome.runtime.getURL(`/prompt.html#${new URLSearchParams({ id: message.id, origin: message.origin }).toString()}`)
  await chrome.windows.create({ url, type: 'popup', width: 420, height: 540, focused: true })
}

const STATUS_FOR_CODE: Record<number, number> = { 4100: 403, 5011: 403, 5001: 404, 5002: 400, 5000: 400, 5003: 416, 5005: 429 }

/** The answer to a player frame's request for `/stream/<token>?origin=…`. */
export async function playerStreamResponse (request: Request): Promise<Response> {
  const url = new URL(request.url)
  const token = url.pathname.slice(STREAM_PATH.length)
  const origin = url.searchParams.get('origin') ?? ''
  const channel = new MessageChannel()
  const port = channel.port1
  const message: PlayerStreamRequest = { type: 'peerloom:player-stream', token, origin, range: request.headers.get('range') }
  const client = await nodeClient()
  return await new Promise<Response>(resolve => {
    let body: IncomingStream | undefined
    port.onmessage = event => {
      const answer = event.data as NodeMessage
      switch (answer.t) {
        case 'head':
          body = new IncomingStream(n => { port.postMessage({ t: 'credit', id: 0, n }) }, () => { port.postMessage({ t: 'cancel', id: 0 }); port.close() }, { implicitWindow: true })
          resolve(new Response(body.stream, { status: answer.status, headers: answer.headers }))
          break
        case 'chunk': body?.push(answer.bytes); break
        case 'end': body?.end(); port.close(); break
        case 'error':
          if (body !== undefined) body.fail(new Error(answer.error.message))
          else resolve(new Response(answer.error.message, { status: STATUS_FOR_CODE[answer.error.code] ?? 500, headers: { 'content-type': 'text/plain' } }))
          port.close()
          break
      }
    }
    client.postMessage(message, [channel.port2])
  })
}
