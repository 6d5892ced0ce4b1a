/**
 * What the calls tests share: libp2p nodes on loopback TCP with the services calls use
 * (identify, ping, gossipsub), and a stand-in forwarder engine that records what it is asked.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import type { Libp2p } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import { CallLimitError } from '@peerloom/shared'
import type { SignalData } from '@peerloom/shared/calls/api'
import type { AttachOptions, ForwarderEngineInit, ForwarderStats, PassthroughEngine } from '../src/calls/forwarder/engine.ts'

const started: Libp2p[] = []

/**
 * A started node listening on 127.0.0.1; `stopLoopbackNodes` stops every one this file made.
 * `circuits`: it can dial relayed addresses and takes a reservation on a relay it connects to
 * (it has a `/p2p-circuit` address once it did); `relayedOnly`: that is its only address, as a
 * browser's (it still dials out over TCP); `relay`: it is a circuit relay server, whose relayed
 * connections last `circuitMs` when given (libp2p's default: 2 min); `refuse`: peer ids it
 * takes no connection from (a relay a peer can no longer reach).
 */
export async function loopbackNode (options: { circuits?: boolean, relayedOnly?: boolean, relay?: boolean | { circuitMs: number }, refuse?: Set<string> } = {}): Promise<Libp2p> {
  const relay = options.relay === undefined || options.relay === false
    ? {}
    : { relay: circuitRelayServer(options.relay === true ? {} : { reservations: { defaultDurationLimit: options.relay.circuitMs } }) }
  const node = await createLibp2p({
    privateKey: await generateKeyPair('secp256k1'),
    addresses: { listen: [...options.relayedOnly === true ? [] : ['/ip4/127.0.0.1/tcp/0'], ...options.circuits === true ? ['/p2p-circuit'] : []] },
    // tcp: Node 20 has no WebSocket client (the extension's transport); gossipsub does not care
    transports: [tcp(), ...options.circuits === true ? [circuitRelayTransport()] : []],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false, denyInboundEncryptedConnection: async peer => options.refuse?.has(peer.toString()) === true },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
      ...relay
    }
  })
  started.push(node)
  return node
}

export async function stopLoopbackNodes (): Promise<void> {
  await Promise.all(started.splice(0).map(async node => { await node.stop() }))
}

/** Records what the service asks of the engine; `full` refuses attaches as a full forwarder does. */
export class FakeEngine implements PassthroughEngine {
  readonly legs = new Map<string, AttachOptions>()
  readonly signals: Array<[string, SignalData]> = []
  readonly detached: string[] = []
  full = false
  closed = false
  constructor (readonly init: ForwarderEngineInit) {}
  get load (): number { return this.legs.size * 2 }
  get rooms (): number { return new Set([...this.legs.values()].map(l => l.roomId)).size }
  has (legId: string): boolean { return this.legs.has(legId) }
  attach (legId: string, options: AttachOptions): void {
    if (this.full) throw new CallLimitError('this forwarder is full')
    this.legs.set(legId, options)
  }

  async signal (legId: string, data: SignalData): Promise<void> { this.signals.push([legId, data]) }
  tracks (): void {}
  detach (legId: string): void { this.legs.delete(legId); this.detached.push(legId) }
  stats (): ForwarderStats {
    return { load: this.load, rooms: this.rooms, legs: [...this.legs].map(([legId, o]) => ({ legId, roomId: o.roomId, peerId: o.peerId, kind: o.kind, bytesSent: 0, bytesReceived: 0, keyFramesReceived: 0, streams: 0, framesDropped: 0, upstreamKbps: null })) }
  }

  close (): void { this.closed = true }
}
