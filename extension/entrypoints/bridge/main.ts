/**
 * The bridge frame, embedded (hidden) in a web page. It takes the page's port, reads the
 * embedding origin from `location.ancestorOrigins` — which the page cannot forge — and hands
 * both to the service worker, which passes them to the node.
 */
import { BRIDGE_PORT_MESSAGE } from '../../src/page-api/wire.ts'
import type { BridgePortMessage, NodeMessage } from '../../src/page-api/wire.ts'

window.addEventListener('message', event => {
  const data = event.data as { peerloom?: unknown } | null
  const port = event.ports[0]
  if (event.source !== window.parent || window.parent === window || data?.peerloom !== BRIDGE_PORT_MESSAGE || port === undefined) return
  const origin = location.ancestorOrigins?.[0]
  if (origin === undefined || origin === 'null') {
    port.postMessage({ t: 'error', id: null, error: { code: 4100, message: 'Peerloom cannot be used from a page without an origin' } } satisfies NodeMessage)
    return
  }
  navigator.serviceWorker.ready.then(registration => {
    if (registration.active === null) throw new Error('no active service worker')
    registration.active.postMessage({ type: 'peerloom:page-port', origin } satisfies BridgePortMessage, [port])
  }).catch((err: Error) => {
    port.postMessage({ t: 'error', id: null, error: { code: 4900, message: `the Peerloom extension is not ready: ${err.message}` } } satisfies NodeMessage)
  })
})
