/**
 * Installs the page API in the node's document: pages' ports and player streams arrive from
 * the service worker; consent prompts answer over runtime ports. Call once at start-up, before
 * the node is ready (messages wait for it).
 */
import type { PeerloomNode } from '../../node/node.ts'
import type { CallService } from '../../calls/call-service.ts'
import { ConsentPrompts } from './consent-prompts.ts'
import { PageApiHost } from './host.ts'
import { openPageApiDb } from './page-db.ts'
import type { BridgePortMessage, OpenConsentMessage, PlayerStreamRequest } from '../wire.ts'

/** `calls`: the node's CallService, for the `peerloom_call*` methods. */
export function installPageApi (node: Promise<PeerloomNode>, calls?: Promise<CallService>): Promise<PageApiHost> {
  const prompts = new ConsentPrompts(async message => {
    const answer = await chrome.runtime.sendMessage(message satisfies OpenConsentMessage) as { ok: boolean, error?: string } | undefined
    if (answer?.ok !== true) throw new Error(`the consent window could not be opened: ${answer?.error ?? 'no answer'}`)
  }, chrome.runtime.getURL('/prompt.html'))
  chrome.runtime.onConnect.addListener(port => { prompts.attach(port) })

  const host = (async () => {
    const [peerloom, db, callService] = await Promise.all([node, openPageApiDb(), calls])
    return new PageApiHost({
      node: {
        openContent: async (link, options) => await peerloom.openContent(link, options),
        publish: async (source, options) => await peerloom.publish(source, options),
        peerId: () => peerloom.status().peerId,
        prepareKey: async link => { await peerloom.prepareKey(link) }
      },
      db,
      askUser: async origin => await prompts.ask(origin),
      playerUrl: token => chrome.runtime.getURL(`/player.html#t=${token}`),
      ...(callService === undefined ? {} : { calls: callService })
    })
  })()

  navigator.serviceWorker.addEventListener('message', event => {
    const data = event.data as Partial<BridgePortMessage | PlayerStreamRequest> | null
    const port = event.ports[0]
    if (port === undefined) return
    if (data?.type === 'peerloom:page-port') {
      const origin = (data as BridgePortMessage).origin
      void host.then(h => { h.accept(port, origin) })
    } else if (data?.type === 'peerloom:player-stream') {
      void host.then(async h => { await h.servePlayerStream(port, data as PlayerStreamRequest) })
    }
  })
  navigator.serviceWorker.startMessages()
  return host
}
