/**
 * The service worker: keeps the node's offscreen document alive and routes requests from
 * the extension's own pages to it. It holds no state of its own; Chrome may stop it at any
 * time and the node keeps running.
 */
import { enable, logger } from '@libp2p/logger'
import { UnauthorizedError, errorToWire } from '@peerloom/shared'
import { KEEPALIVE_ALARM_MINUTES } from '../src/constants.ts'
import { NODE_EVENTS_PORT, ensureNodeDocument, forwardToNode, relayNodeEvents } from '../src/node/node-document.ts'
import type { NodeRequest } from '../src/node/rpc.ts'
import { installPageApiRoutes } from '../src/page-api/worker/worker-setup.ts'
import { openOnboardingOnce } from '../src/ui/onboarding-once.ts'

const KEEPALIVE_ALARM = 'peerloom-node-keepalive'

// a service worker has no localStorage to switch logs on from (`debug`), so its errors are always on
enable('peerloom:*:error')
const log = logger('peerloom:worker')

/** Only this extension's own pages may drive the node or hear it; content scripts run inside web pages. */
function isOwnPage (sender: chrome.runtime.MessageSender | undefined): boolean {
  return sender?.id === chrome.runtime.id && sender.url?.startsWith(chrome.runtime.getURL('')) === true
}

export default defineBackground(() => {
  // when this worker instance started; tests use it to see that Chrome really replaced the worker
  const workerStartedAt = Date.now() + Math.random()
  const ensure = (): void => { ensureNodeDocument().catch(err => { log.error('could not create the node document: %s', (err as Error).message) }) }
  chrome.runtime.onInstalled.addListener(details => {
    ensure()
    // a newcomer's first look: what Peerloom does and that sharing is off (not on updates or reloads)
    openOnboardingOnce(details.reason).catch(err => { log.error('could not open the onboarding page: %s', (err as Error).message) })
  })
  chrome.runtime.onStartup.addListener(ensure)
  chrome.alarms.onAlarm.addListener(alarm => { if (alarm.name === KEEPALIVE_ALARM) ensure() })
  void chrome.alarms.create(KEEPALIVE_ALARM, { periodInMinutes: KEEPALIVE_ALARM_MINUTES })
  ensure()
  // the page API: bridge ports to the node, the consent window, player streams
  installPageApiRoutes()

  // the node's events, pushed to the popup and Options while they are open
  chrome.runtime.onConnect.addListener(port => {
    if (port.name !== NODE_EVENTS_PORT) return
    if (!isOwnPage(port.sender)) {
      port.disconnect()
      return
    }
    void relayNodeEvents(port)
  })

  chrome.runtime.onMessage.addListener((message: NodeRequest, sender, sendResponse) => {
    if ((message as { to?: string })?.to === 'worker' && sender.id === chrome.runtime.id) {
      sendResponse({ ok: true, result: { startedAt: workerStartedAt } })
      return false
    }
    if (message?.to !== 'node') return false
    if (!isOwnPage(sender)) {
      sendResponse({ ok: false, error: errorToWire(new UnauthorizedError('only Peerloom\'s own pages may use this channel')) })
      return false
    }
    forwardToNode(message.method, message.params).then(sendResponse, (err: unknown) => {
      sendResponse({ ok: false, error: errorToWire(err) })
    })
    return true
  })
})
