/**
 * Connections that libp2p gives up on end cleanly (patches/README.md, @libp2p/websockets and
 * libp2p): a relay that drops a peer on a late ping must not leave it a socket it can open
 * nothing on, a dial abandoned mid-handshake must not kill the process when its socket fails
 * later, and a connection whose muxer went away must not stand in for a new one.
 */
import '../src/platform.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Libp2p } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { eventually } from './helpers.ts'

const PROTOCOL = '/peerloom/test/nothing/1.0.0'

/** The muxer's state, which libp2p's Connection keeps to itself. */
function muxerOf (connection: Connection): { status: string, abort: (err: Error) => void } {
  return (connection as unknown as { muxer: { status: string, abort: (err: Error) => void } }).muxer
}

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

describe('connections given up on', () => {
  let listener: Libp2p
  let dialer: Libp2p

  before(async () => {
    listener = await node(['/ip4/127.0.0.1/tcp/0/ws'])
    dialer = await node()
    await listener.handle(PROTOCOL, stream => { void stream.close() })
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

  it('survives the later failure of a dial it gave up on mid-handshake', async () => {
    // a server that accepts the TCP connection and never answers the WebSocket handshake
    const sockets: Socket[] = []
    const server = createServer(socket => { sockets.push(socket) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const created: WebSocket[] = []
    const Native = globalThis.WebSocket
    globalThis.WebSocket = class extends Native {
      constructor (...args: ConstructorParameters<typeof WebSocket>) {
        super(...args)
        created.push(this)
      }
    }
    try {
      const { port } = server.address() as AddressInfo
      await assert.rejects(dialer.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${listener.peerId}`), { signal: AbortSignal.timeout(1_000) }))
      const socket = await eventually(() => sockets[0], 'the server has the connection')
      // the reset reaches the abandoned socket as an error event: with no one listening, it was an uncaught exception
      socket.resetAndDestroy()
      const websocket = await eventually(() => created[0], 'the dial made a WebSocket')
      await eventually(() => websocket.readyState === websocket.CLOSED ? true : undefined, 'the abandoned WebSocket closes')
    } finally {
      globalThis.WebSocket = Native
      await new Promise(resolve => server.close(resolve))
    }
  })

  it('ends a connection whose muxer the remote closed when a stream is asked of it; the next dial makes a new one', async () => {
    const connection = await dialer.dial(listener.getMultiaddrs()[0]!)
    const theirs = await eventually(() => listener.getConnections(dialer.peerId)[0], 'the listener has the connection')
    // only the listener's muxer goes away (a GoAway to the dialer); both transports stay open
    muxerOf(theirs).abort(new Error('test go-away'))
    await eventually(() => muxerOf(connection).status === 'closed' ? true : undefined, 'the dialer\'s muxer hears the go-away')
    assert.equal(connection.status, 'open')
    await assert.rejects(dialer.dialProtocol(listener.getMultiaddrs()[0]!, PROTOCOL), /muxer is "closed"/)
    await eventually(() => connection.status === 'open' ? undefined : true, 'the connection ends')
    const stream = await dialer.dialProtocol(listener.getMultiaddrs()[0]!, PROTOCOL)
    await stream.close()
  })
})
