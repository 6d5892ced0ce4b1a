/**
 * Gossipsub on the relays for calls (docs/CALLS.md): three relay processes (B and C bootstrap
 * from A only) and libp2p clients with gossipsub shaped like the extension's node. A room's
 * messages cross from a client on B to one on C; the relays carry a room only while a client
 * is in it; foreign topics, oversized and malformed messages are dropped and counted; and
 * with A killed, the clients on B and C still hear each other.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import type { Libp2p } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { FORWARDERS_TOPIC, ROOM_TOPIC_PREFIX } from '@peerloom/shared/protocols'
import { encodeRekeyNotice } from '@peerloom/shared/calls/gated-room'
import { createClient, eventually, removeDir, startRelay } from './helpers.ts'
import type { RunningRelay } from './helpers.ts'

type PubsubClient = Libp2p<{ pubsub: GossipSub, identify: unknown }>

/**
 * A client as the extension's node builds its pubsub: gossipsub, StrictSign, over a WebSocket to
 * one relay; with ping, which the relay's connection monitor needs to keep the connection.
 */
async function pubsubClient (relay: Multiaddr): Promise<PubsubClient> {
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify(), ping: ping(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }) }
  }) as unknown as PubsubClient
  await node.dial(relay, { signal: AbortSignal.timeout(30_000) })
  return node
}

const room = (): string => ROOM_TOPIC_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')

/** A sealed envelope as CALLS.md shapes it; the "ciphertext" carries a label the test reads back. */
function envelope (label: string): Uint8Array {
  const ct = Buffer.from(`${label}:${'.'.repeat(24)}`).toString('base64url')
  return new TextEncoder().encode(JSON.stringify({ v: 1, kv: 0, iv: 'AAAAAAAAAAAAAAAA', ct }))
}

function labelOf (data: Uint8Array): string | undefined {
  try {
    const { ct } = JSON.parse(new TextDecoder().decode(data)) as { ct?: string }
    return ct === undefined ? undefined : Buffer.from(ct, 'base64url').toString().split(':')[0]
  } catch {
    return undefined
  }
}

/** Everything a client receives on its subscriptions, as labels (or `raw:<text>` for non-envelopes). */
function inbox (client: PubsubClient): string[] {
  const seen: string[] = []
  client.services.pubsub.addEventListener('message', event => {
    const label = labelOf(event.detail.data)
    seen.push(label ?? `raw:${new TextDecoder().decode(event.detail.data)}`)
  })
  return seen
}

/** Publishes `label` every half second until `inbox` holds it: the mesh may still be forming. */
async function deliver (from: PubsubClient, topic: string, label: string, to: string[], what: string, timeoutMs = 60_000): Promise<void> {
  let n = 0
  await eventually(async () => {
    if (to.some(seen => seen.startsWith(label))) return true
    await from.services.pubsub.publish(topic, envelope(`${label}#${n++}`)).catch(() => {})
    await new Promise(resolve => setTimeout(resolve, 400))
    return to.some(seen => seen.startsWith(label)) ? true : undefined
  }, what, timeoutMs)
}

interface Health { connections: number, rooms: number, messagesRelayed: number, messagesRejected: number }

async function health (relay: RunningRelay): Promise<Health> {
  return await (await fetch(`${relay.http}/health`)).json() as Health
}

async function metric (relay: RunningRelay, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${relay.http}/metrics`)).text()
  const line = text.split('\n').find(candidate => candidate.startsWith(`${name}${labels} `))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** Sends one raw gossipsub RPC frame (length-prefixed protobuf), as a peer ignoring the rules would. */
async function sendRawRpc (relay: Multiaddr, rpc: RPC): Promise<Libp2p> {
  const client = await createClient()
  const stream = await client.dialProtocol(relay, '/meshsub/1.1.0', { signal: AbortSignal.timeout(30_000) })
  const body = RPC.encode(rpc)
  const prefix: number[] = []
  for (let n = body.length; ; n >>>= 7) {
    if (n < 0x80) { prefix.push(n); break }
    prefix.push((n & 0x7f) | 0x80)
  }
  stream.send(Uint8Array.from([...prefix, ...body]))
  return client
}

describe('gossipsub rooms across relays', () => {
  let a: RunningRelay
  let b: RunningRelay
  let c: RunningRelay
  const clients: Libp2p[] = []
  let onB: PubsubClient
  let onC: PubsubClient
  let inboxB: string[]
  let inboxC: string[]
  const topic = room()

  before(async () => {
    a = await startRelay()
    b = await startRelay(['--bootstrap', a.ws.toString()])
    c = await startRelay(['--bootstrap', a.ws.toString()])
    onB = await pubsubClient(b.ws)
    onC = await pubsubClient(c.ws)
    clients.push(onB, onC)
    // B and C bootstrap from A only: they find each other through the DHT and keep that connection
    await eventually(async () => (await health(c)).connections >= 3 ? true : undefined, 'relay C connected to A, B and its client', 120_000)
    inboxB = inbox(onB)
    inboxC = inbox(onC)
  })

  after(async () => {
    await Promise.all(clients.map(async client => { await client.stop() }))
    for (const [name, relay] of [['a', a], ['b', b], ['c', c]] as const) {
      if (relay === undefined) continue
      await relay.stop()
      // PEERLOOM_TEST_RELAY_LOGS=<dir> keeps each relay's stderr (with DEBUG=libp2p:gossipsub* for the wire)
      if (process.env.PEERLOOM_TEST_RELAY_LOGS !== undefined) await writeFile(join(process.env.PEERLOOM_TEST_RELAY_LOGS, `relay-${name}.log`), relay.stderr())
      await removeDir(relay.data)
    }
  })

  it('carries a room between a client on relay B and one on relay C', async () => {
    assert.equal((await health(b)).rooms, 0, 'no room before a client joins one')
    onB.services.pubsub.subscribe(topic)
    onC.services.pubsub.subscribe(topic)
    await eventually(async () => (await health(b)).rooms === 1 && (await health(c)).rooms === 1 ? true : undefined, 'relays B and C carrying the room')
    await deliver(onB, topic, 'b-to-c', inboxC, 'a message from B reaching C')
    await deliver(onC, topic, 'c-to-b', inboxB, 'a message from C reaching B')
    assert.ok((await health(b)).messagesRelayed >= 2)
    assert.ok(await metric(c, 'peerloom_pubsub_messages_relayed_total') >= 2)
    assert.equal(await metric(b, 'peerloom_pubsub_rooms'), 1)
    assert.equal((await health(a)).rooms, 0, 'relay A has no client in the room, so it does not carry it')
  })

  it('passes a rekey notice and a forwarder announcement, and drops what is not shaped as CALLS.md says', async () => {
    const before = await metric(b, 'peerloom_pubsub_messages_rejected_total', '{reason="malformed"}')
    await onB.services.pubsub.publish(topic, new TextEncoder().encode('{"v":1,"hello":"not sealed"}'))
    await onB.services.pubsub.publish(topic, encodeRekeyNotice(3))
    await eventually(() => inboxC.includes('raw:{"v":1,"notice":"rekey","kv":3}') ? true : undefined, 'the rekey notice reaching C')
    await eventually(async () => await metric(b, 'peerloom_pubsub_messages_rejected_total', '{reason="malformed"}') > before ? true : undefined, 'relay B counting the malformed message')
    await deliver(onB, topic, 'after-junk', inboxC, 'a good message after the junk')
    assert.ok(!inboxC.some(seen => seen.includes('not sealed')), 'the malformed message never reached C')

    const forwarders = inbox(onC)
    onB.services.pubsub.subscribe(FORWARDERS_TOPIC)
    onC.services.pubsub.subscribe(FORWARDERS_TOPIC)
    const announcement = new TextEncoder().encode(JSON.stringify({ v: 1, load: 0, maxStreams: 8, rooms: 0 }))
    await eventually(async () => {
      await onB.services.pubsub.publish(FORWARDERS_TOPIC, announcement).catch(() => {})
      await new Promise(resolve => setTimeout(resolve, 400))
      return forwarders.some(seen => seen.includes('"maxStreams":8')) ? true : undefined
    }, 'a forwarder announcement from B reaching C', 60_000)
  })

  it('drops foreign topics and oversized messages a peer sends anyway', async () => {
    const topicBefore = await metric(b, 'peerloom_pubsub_messages_rejected_total', '{reason="topic"}')
    const sizeBefore = await metric(b, 'peerloom_pubsub_messages_rejected_total', '{reason="size"}')
    const roomsBefore = (await health(b)).rooms
    const rogue = await sendRawRpc(b.ws, {
      subscriptions: [{ subscribe: true, topic: '/other/app/1' }],
      messages: [
        { topic: '/other/app/1', data: envelope('foreign') },
        { topic, data: new Uint8Array(64 * 1024 + 1) }
      ]
    })
    clients.push(rogue)
    await eventually(async () => await metric(b, 'peerloom_pubsub_messages_rejected_total', '{reason="topic"}') >= topicBefore + 2 ? true : undefined, 'relay B refusing the foreign subscription and message')
    await eventually(async () => await metric(b, 'peerloom_pubsub_messages_rejected_total', '{reason="size"}') > sizeBefore ? true : undefined, 'relay B refusing the oversized message')
    assert.equal((await health(b)).rooms, roomsBefore, 'a foreign topic is never carried')
    assert.ok((await health(b)).messagesRejected >= 3)
  })

  it('keeps the room up between B and C when relay A is killed', async () => {
    a.process.kill('SIGKILL')
    await new Promise(resolve => a.process.once('close', resolve))
    await deliver(onB, topic, 'after-kill-b', inboxC, 'B reaching C with relay A gone')
    await deliver(onC, topic, 'after-kill-c', inboxB, 'C reaching B with relay A gone')
  })

  it('stops carrying a room once its last client leaves it', async () => {
    onB.services.pubsub.unsubscribe(topic)
    await eventually(async () => (await health(b)).rooms === 0 ? true : undefined, 'relay B leaving the room')
    assert.equal((await health(c)).rooms, 1, 'relay C still carries it for its own client')
  })
})
