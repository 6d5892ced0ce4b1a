/**
 * A misbehaving Peerloom peer as a process of its own: a Node.js libp2p node that reserves a
 * slot on a relay, listens for WebRTC through it, announces itself in the relays' DHT as a
 * provider of the CIDs it is given, and answers the block protocol badly (see
 * extension/test/bad-block-handler.ts). Driven by e2e/src/bad-peer.ts.
 *
 *   node --import tsx e2e/src/bad-peer-main.ts --relay <multiaddr> --mode lie|truncate|stall --provide <cid>...
 *
 * Prints one JSON line once it is reachable and announced (`{"peerId", "multiaddrs"}`) and one
 * per block request (`{"request": "<cid>"}`).
 */
import '../../relay-node/src/platform.ts'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { BLOCK_PROTOCOL } from '@peerloom/shared/protocols'
import { BAD_MODES, serveBadly } from '../../extension/test/bad-block-handler.ts'
import type { BadMode } from '../../extension/test/bad-block-handler.ts'

/**
 * How long the peer may take to hold a reservation and a WebRTC address and to announce every
 * CID: generous, because on a machine whose cores are all busy this takes many times longer.
 * @default 90_000
 */
const READY_TIMEOUT_MS = 90_000

/** How long one provide may take before it is tried again. */
const PROVIDE_ATTEMPT_MS = 15_000

/**
 * Inbound and outbound block streams per connection, as a Peerloom node's block server allows.
 * @default 64
 */
const MAX_BLOCK_STREAMS = 64

const { values } = parseArgs({ options: { relay: { type: 'string' }, mode: { type: 'string' }, provide: { type: 'string', multiple: true } }, strict: true })
const mode = values.mode as BadMode
if (values.relay === undefined || !BAD_MODES.includes(mode)) {
  process.stderr.write(`usage: bad-peer-main.ts --relay <multiaddr> --mode ${BAD_MODES.join('|')} --provide <cid>...\n`)
  process.exit(2)
}
const cids = (values.provide ?? []).map(text => CID.parse(text))

const node = await createLibp2p({
  addresses: { listen: ['/p2p-circuit', '/webrtc'] },
  transports: [webSockets(), circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers: [] } })],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  // everything here is on loopback
  connectionGater: { denyDialMultiaddr: async () => false },
  // as in a Peerloom node: by default a ping slow on a busy machine (or one whose last stream is
  // still closing) aborts the connection, and the viewer's pending requests end in EOF before any
  // lie reaches it, so it drops this peer for failing rather than for lying
  connectionMonitor: { abortConnectionOnPingFailure: false },
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({ clientMode: true, peerInfoMapper: passthroughMapper })
  }
})
await node.handle(BLOCK_PROTOCOL, stream => {
  void serveBadly(stream, mode, cid => { process.stdout.write(JSON.stringify({ request: cid.toString() }) + '\n') })
}, { maxInboundStreams: MAX_BLOCK_STREAMS, maxOutboundStreams: MAX_BLOCK_STREAMS, runOnLimitedConnection: false })

await node.dial(multiaddr(values.relay))
const deadline = Date.now() + READY_TIMEOUT_MS
while (!node.getMultiaddrs().some(ma => ma.toString().includes('/webrtc'))) {
  if (Date.now() > deadline) throw new Error(`no reservation on ${values.relay} after ${READY_TIMEOUT_MS} ms`)
  await new Promise(resolve => setTimeout(resolve, 100))
}
// the DHT learns the relay is a server from identify; a provide before that reaches nobody, so retry
for (const cid of cids) {
  while (true) {
    try {
      await node.contentRouting.provide(cid, { signal: AbortSignal.timeout(PROVIDE_ATTEMPT_MS) })
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
}
process.stdout.write(JSON.stringify({ peerId: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map(ma => ma.toString()) }) + '\n')

process.once('SIGTERM', () => { void Promise.resolve(node.stop()).finally(() => process.exit(0)) })
