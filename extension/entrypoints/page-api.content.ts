/**
 * The page API's isolated-world half: when the page's `window.peerloom` needs the node, it
 * posts a MessagePort here; this script hands it to the extension's bridge frame, which reads
 * the page's origin (unspoofably, from `location.ancestorOrigins`) and passes port and origin
 * on to the node.
 */
import { OPEN_BRIDGE_MESSAGE } from '../src/page-api/wire.ts'
import { openBridgeFrame } from '../src/page-api/content-script/bridge-frame.ts'

export default defineContentScript({
  matches: ['<all_urls>'],
  runAt: 'document_start',
  allFrames: true,
  main () {
    window.addEventListener('message', event => {
      const data = event.data as { peerloom?: unknown } | null
      if (event.source !== window || data?.peerloom !== OPEN_BRIDGE_MESSAGE || event.ports.length !== 1) return
      openBridgeFrame(event.ports[0] as MessagePort, chrome.runtime.getURL('/bridge.html'))
    })
  }
})
