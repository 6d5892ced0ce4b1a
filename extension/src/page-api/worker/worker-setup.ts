/** Installs the page API's routes in the service worker (call once, synchronously, at start-up). */
import type { OpenConsentMessage } from '../wire.ts'
import { STREAM_PATH } from '../constants.ts'
import { openConsentWindow, playerStreamResponse, routeBridgeMessage } from './worker-routes.ts'
import type { WorkerMessageEvent } from './worker-routes.ts'

interface FetchEventLike extends Event {
  request: Request
  respondWith: (response: Promise<Response>) => void
}

export function installPageApiRoutes (scope: EventTarget = globalThis): void {
  scope.addEventListener('message', event => { routeBridgeMessage(event as unknown as WorkerMessageEvent) })

  scope.addEventListener('fetch', event => {
    const fetchEvent = event as FetchEventLike
    const url = new URL(fetchEvent.request.url)
    if (url.origin !== location.origin || !url.pathname.startsWith(STREAM_PATH)) return
    fetchEvent.respondWith(playerStreamResponse(fetchEvent.request).catch((err: Error) => new Response(err.message, { status: 503 })))
  })

  chrome.runtime.onMessage.addListener((message: Partial<OpenConsentMessage>, sender, sendResponse) => {
    if (message?.to !== 'page-api' || message.type !== 'open-consent') return false
    // only the node's document asks for the prompt
    if (sender.id !== chrome.runtime.id || sender.url !== chrome.runtime.getURL('/offscreen.html') || typeof message.id !== 'string' || typeof message.origin !== 'string') return false
    openConsentWindow(message as OpenConsentMessage).then(() => { sendResponse({ ok: true }) }, (err: Error) => { sendResponse({ ok: false, error: err.message }) })
    return true
  })
}
