/**
 * The forwarder service over in-memory libp2p streams (docs/CALLS.md, Forwarders): attach and
 * signalling reach the engine, bad input gets a coded error and closes only that stream, a full
 * forwarder refuses with 5021, the role follows `media.forward`, and announcements carry load.
 * The engine is a stand-in: the real one needs RTCPeerConnection (e2e/tests/forwarder.spec.ts).
 * Also the offer's bitrate cap (b=AS) put on one media section.
 */
import './polyfills.ts'
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Connection, Libp2p, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { lpStream, streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, FORWARDERS_TOPIC, FORWARD_PROTOCOL } from '@peerloom/shared'
import type { NodeSettings } from '@peerloom/shared'
import { FakeEngine } from './calls-fixtures.ts'
import { ForwarderService } from '../src/calls/forwarder/service.ts'
import { withBandwidth } from '../src/calls/forwarder/engine.ts'
import { decodeForwardMessage, encodeForwardMessage } from '../src/calls/forwarder/messages.ts'
import type { ForwardMessage } from '../src/calls/forwarder/messages.ts'

const ROOM = '0x' + '12'.repeat(32)

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

interface Rig {
  self: PeerId
  service: ForwarderService
  engine: () => FakeEngine
  media: NodeSettings['media']
  handler: () => StreamHandler | undefined
  published: Array<{ topic: string, body: unknown }>
  open: (from: PeerId) => Promise<{ send: (m: unknown) => Promise<void>, read: () => Promise<ForwardMessage>, stream: Stream }>
}

const rigs: ForwarderService[] = []
afterEach(async () => { for (const service of rigs.splice(0)) await service.detach() })

async function rig (forward = true): Promise<Rig> {
  const self = await peer()
  const media = { forward, maxStreams: 16, uploadRateBytesPerSec: 1 << 20 }
  let handler: StreamHandler | undefined
  let engine: FakeEngine | undefined
  const published: Rig['published'] = []
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false })
  const libp2p = {
    peerId: self,
    logger: { forComponent: () => log },
    handle: async (protocol: string, h: StreamHandler) => { assert.equal(protocol, FORWARD_PROTOCOL); handler = h },
    unhandle: async () => { handler = undefined },
    services: { pubsub: { publish: async (topic: string, data: Uint8Array) => { published.push({ topic, body: JSON.parse(new TextDecoder().decode(data)) }) } } },
    dialProtocol: async () => { throw new Error('no dialling in this test') },
    getMultiaddrs: () => [multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${self.toString()}`)]
  } as unknown as Libp2p
  const service = new ForwarderService({
    media: () => media,
    createWorker: () => { throw new Error('the stand-in engine starts no worker') },
    createEngine: init => (engine = new FakeEngine(init))
  })
  rigs.push(service)
  await service.attach(libp2p)
  return {
    self,
    service,
    media,
    engine: () => engine as FakeEngine,
    handler: () => handler,
    published,
    open: async (from: PeerId) => {
      const [outbound, inbound] = await streamPair()
      assert.ok(handler !== undefined, 'the forward protocol is handled')
      void handler(inbound, { remotePeer: from } as unknown as Connection)
      const lp = lpStream(outbound)
      return {
        stream: outbound,
        send: async (m: unknown) => { await lp.write(typeof m === 'string' ? new TextEncoder().encode(m) : encodeForwardMessage(m as ForwardMessage)) },
        read: async () => decodeForwardMessage((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      }
    }
  }
}

async function until (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('forwarder service', () => {
  it('attaches a participant, carries signals both ways and detaches when asked', async () => {
    const { open, engine } = await rig()
    const alice = await peer()
    const leg = `${ROOM}/${alice.toString()}`
    const client = await open(alice)
    await client.send({ type: 'attach', roomId: ROOM, name: 'Alice' })
    assert.deepEqual(await client.read(), { type: 'attached' })
    assert.deepEqual(engine().legs.get(leg), { roomId: ROOM, peerId: alice.toString(), kind: 'participant', polite: false })

    engine().init.send(leg, { type: 'tracks', mids: { 2: alice.toString() } })
    engine().init.send(leg, { type: 'signal', data: { sdp: { type: 'offer', sdp: 'v=0' } } })
    assert.deepEqual(await client.read(), { type: 'tracks', mids: { 2: alice.toString() } })
    assert.deepEqual(await client.read(), { type: 'signal', data: { sdp: { type: 'offer', sdp: 'v=0' } } })

    await client.send({ type: 'signal', data: { sdp: { type: 'answer', sdp: 'v=0' } } })
    await client.send({ type: 'signal', data: { candidate: null } })
    await until(() => engine().signals.length === 2, 'both signals')
    assert.deepEqual(engine().signals.map(([, data]) => data), [{ sdp: { type: 'answer', sdp: 'v=0' } }, { candidate: null }])

    await client.send({ type: 'detach' })
    await until(() => engine().detached.includes(leg), 'the detach')
    assert.equal(engine().has(leg), false)
  })

  it('answers malformed messages with 5000 and closes only that leg', async () => {
    const { open, engine } = await rig()
    const [alice, bob] = [await peer(), await peer()]
    const a = await open(alice)
    await a.send({ type: 'attach', roomId: ROOM, name: 'Alice' })
    await a.read()
    const b = await open(bob)
    await b.send({ type: 'attach', roomId: ROOM, name: 'Bob' })
    await b.read()

    await a.send('{"type":"signal","data":{"sdp":{"type":"pranswer","sdp":"x"}}}')
    const error = await a.read()
    assert.equal(error.type, 'error')
    assert.equal((error as { code: number }).code, ErrorCode.INVALID_PARAMS)
    await until(() => !engine().has(`${ROOM}/${alice.toString()}`), 'alice\'s leg closed')
    assert.equal(engine().has(`${ROOM}/${bob.toString()}`), true)

    for (const bad of ['not json', '{"type":"attach","roomId":"0x12","name":"x"}', '{"type":"signal","data":{"candidate":null}}']) {
      const c = await open(await peer())
      await c.send(bad)
      const answer = await c.read()
      assert.equal(answer.type, 'error', bad)
      assert.equal((answer as { code: number }).code, ErrorCode.INVALID_PARAMS, bad)
    }
  })

  it('refuses an attach with 5021 when the engine is full', async () => {
    const { open, engine } = await rig()
    const first = await open(await peer())
    await first.send({ type: 'attach', roomId: ROOM, name: 'A' })
    await first.read()
    engine().full = true
    const second = await open(await peer())
    await second.send({ type: 'attach', roomId: ROOM, name: 'B' })
    const answer = await second.read()
    assert.equal(answer.type, 'error')
    assert.equal((answer as { code: number }).code, ErrorCode.CALL_LIMIT)
  })

  it('refuses a cascade for a room it has no participant of (5020)', async () => {
    const { open } = await rig()
    const other = await open(await peer())
    await other.send({ type: 'cascade', roomId: ROOM })
    const answer = await other.read()
    assert.equal(answer.type, 'error')
    assert.equal((answer as { code: number }).code, ErrorCode.CALL_NOT_FOUND)
  })

  it('follows media.forward and announces load, maxStreams and rooms', async () => {
    const r = await rig(false)
    assert.equal(r.handler(), undefined)
    r.media.forward = true
    await until(() => r.handler() !== undefined, 'the protocol handled')
    await until(() => r.published.length > 0, 'an announcement')
    // with the addresses participants dial it at
    assert.deepEqual(r.published[0], { topic: FORWARDERS_TOPIC, body: { v: 1, load: 0, maxStreams: 16, rooms: 0, addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${r.self.toString()}`] } })

    const client = await r.open(await peer())
    await client.send({ type: 'attach', roomId: ROOM, name: 'A' })
    await client.read()
    const engine = r.engine()
    r.media.forward = false
    await until(() => r.handler() === undefined && engine.closed, 'the role off')
  })
})

describe('withBandwidth', () => {
  const sdp = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=recvonly',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'b=AS:2000', 'a=mid:1', 'a=recvonly',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=mid:2', 'a=sendonly', ''].join('\r\n')

  it('caps only the named media sections, replacing a cap they had', () => {
    const capped = withBandwidth(sdp, new Map([['1', 350.4]]))
    const sections = capped.split(/(?=\r\nm=)/)
    assert.equal(sections.length, 4)
    assert.match(sections[2] as string, /\r\nc=IN IP4 0\.0\.0\.0\r\nb=AS:350\r\na=mid:1/)
    assert.equal((sections[2] as string).match(/b=AS:/g)?.length, 1)
    assert.doesNotMatch(sections[1] as string, /b=AS:/)
    assert.doesNotMatch(sections[3] as string, /b=AS:/)
    assert.equal(withBandwidth(sdp, new Map()), sdp)
  })
})
