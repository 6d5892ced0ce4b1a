/**
 * The forwarder's transform worker (calls/forwarder/frame-relay.ts), started by the node's
 * document while the media role is on: `new Worker(chrome.runtime.getURL('/forwarder-worker.js'))`.
 */
import { runFrameRelay } from '../src/calls/forwarder/frame-relay.ts'
import type { RelayScope } from '../src/calls/forwarder/frame-relay.ts'

export default defineUnlistedScript(() => {
  runFrameRelay(globalThis as unknown as RelayScope)
})
