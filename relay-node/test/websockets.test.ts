/**
 * Aborted WebSocket connections end on both sides (patches/README.md, @libp2p/websockets):
 * a relay that drops a peer on a late ping must not leave it a socket it can open nothing on.
 */
import '../src/platform.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { eventually } from './helpers.ts'

async function node (listen: string[] = []): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // only the abort under test may end a connection
    connectionMonitor: { enabled: false }
  })
}

describe('WebSocket aborts', () => {
  let listener: Libp2p
  let dialer: Libp2p

  before(async () => {
    listener = await node(['/ip4/127.0.0.1/tcp/0/ws'])
    dialer = await node()
  })

  after(async () => {
    await Promise.all([dialer?.stop(), listener?.stop()])
  })

  for (const side of ['listener', 'dialer'] as const) {
    it(`closes the other side's connection when the ${side} aborts it`, async () => {
      const connection = await dialer.dial(listener.getMultiaddrs()[0]!)
      const [aborting, other] = side === 'listener' ? [listener, dialer] : [dialer, listener]
      const peer = side === 'listener' ? dialer.peerId : listener.peerId
      const theirs = await eventually(() => other.getConnections(aborting.peerId)[0], 'the other side has the connection')
      const ours = await eventually(() => aborting.getConnections(peer)[0], `the ${side} has the connection`)
      ours.abort(new Error('test abort'))
      // the muxer's go-away alone would leave the other side a live socket it can open nothing on
      await eventually(() => theirs.status === 'open' ? undefined : true, 'the other side\'s connection closes')
      assert.deepEqual(other.getConnections(aborting.peerId), [])
      assert.notEqual(connection.status, 'open')
    })
  }
})
