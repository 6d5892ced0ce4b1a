/** The forwarder harness's transform worker: the extension's frame relay, bundled on its own. */
import { runFrameRelay } from '../../extension/src/calls/forwarder/frame-relay.ts'
import type { RelayScope } from '../../extension/src/calls/forwarder/frame-relay.ts'

runFrameRelay(globalThis as unknown as RelayScope)
