/**
 * The baseline of `bench:transfer`: Helia (bitswap) in an ordinary web page, no extension,
 * talking to another such page over WebRTC through the same relay. Driven by the bench
 * through `window.heliaBench`.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { CarReader } from '@ipld/car'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

async function start (relay: string) {
  const blockstore = new MemoryBlockstore()
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore }), {
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers: [] } })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: { identify: identify(), ping: ping() }
  }) as never)
  await helia.start()
  await helia.libp2p.dial(multiaddr(relay))
  const deadline = Date.now() + 20_000
  while (!helia.libp2p.getMultiaddrs().some(ma => ma.toString().includes('/webrtc'))) {
    if (Date.now() > deadline) throw new Error('no relay reservation / WebRTC address')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const fs = unixfs(helia as never)
  return {
    peerId: helia.libp2p.peerId.toString(),
    webrtc: helia.libp2p.getMultiaddrs().map(ma => ma.toString()).filter(a => a.includes('/webrtc')),
    /** Loads a CAR of the ciphertext file from the origin into this page's blockstore. */
    seed: async (url: string) => {
      const response = await fetch(url)
      const reader = await CarReader.fromBytes(new Uint8Array(await response.arrayBuffer()))
      let blocks = 0
      for await (const { cid, bytes } of reader.blocks()) {
        await blockstore.put(cid as never, bytes) // the raw store: Helia's own put would also try to announce
        blocks++
      }
      return blocks
    },
    dial: async (addr: string) => {
      const connection = await helia.libp2p.dial(multiaddr(addr))
      return { direct: connection.limits === undefined, addr: connection.remoteAddr.toString() }
    },
    /** Fetches the whole file over bitswap; returns bytes and timings (ms). */
    fetch: async (root: string) => {
      const started = performance.now()
      let firstByteMs: number | undefined
      let bytes = 0
      for await (const chunk of fs.cat(CID.parse(root) as never)) {
        firstByteMs ??= performance.now() - started
        bytes += chunk.length
      }
      return { bytes, ms: performance.now() - started, firstByteMs }
    },
    /** Forgets every block so the next fetch starts cold on data (the connection stays). */
    memory: () => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize
  }
}

;(window as unknown as { heliaBench: { start: typeof start } }).heliaBench = { start }
