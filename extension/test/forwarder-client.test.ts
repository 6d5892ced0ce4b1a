/**
 * The forwarder client between real libp2p nodes on loopback (TCP, noise, yamux, gossipsub,
 * ping): two donors run the ForwarderService (with a stand-in engine: the real one needs
 * RTCPeerConnection, e2e/tests/calls-forwarded.spec.ts) and announce themselves; the clients
 * of one participant more than a mesh carries follow stand-in calls of one room. They converge
 * on one forwarder, carry signalling both ways, count the page's bytes for receipts, fail over when the
 * forwarder goes away or the page reports its connection failed, remember the failures in
 * IndexedDB, and go back to mesh when the room shrinks. Beside a circuit relay: a direct leg is
 * watched through a relayed connection, whose closing fails the call over unless the
 * forwarder answers a ping.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Libp2p } from '@libp2p/interface'
import type { NodeSettings } from '@peerloom/shared'
import { FORWARDERS_TOPIC } from '@peerloom/shared'
import type { CallEvent, ParticipantInfo, SignalData } from '@peerloom/shared/calls/api'
import { FakeEngine, loopbackNode, stopLoopbackNodes } from './calls-fixtures.ts'
import { openCallsDb } from '../src/calls/calls-db.ts'
import { MESH_MAX_PARTICIPANTS, MESH_RETURN_PARTICIPANTS } from '../src/calls/constants.ts'
import { ForwarderClient, ForwarderReputation } from '../src/calls/forwarder-client.ts'
import type { ForwardedCall } from '../src/calls/forwarder-client.ts'
import { ForwarderService } from '../src/calls/forwarder/service.ts'
import type { ForwarderLink } from '../src/calls/room-call.ts'

const ROOM = '0x' + '34'.repeat(32)
const DEADLINE_MS = 60_000

/** A room of stand-in calls: each one's participants are the others, naming the forwarder each uses. */
class Room {
  readonly calls: FakeCall[] = []
  members (except: FakeCall): ParticipantInfo[] {
    return this.calls.filter(c => c !== except && !c.isEnded).map(c => ({ peerId: c.self, name: c.self.slice(-4), media: { audio: true, video: true, screen: false }, forwarder: c.forwarder, joinedAt: 0 }))
  }
}

class FakeCall implements ForwardedCall {
  readonly id: string
  readonly roomId = ROOM
  readonly self: string
  isEnded = false
  forwarder: string | null = null
  link?: ForwarderLink
  /** Every forwarder it was told to use, null for mesh. */
  readonly history: Array<string | null> = []
  readonly events: CallEvent[] = []
  private readonly room: Room

  constructor (room: Room, self: string) {
    this.room = room
    this.self = self
    this.id = `call-${self.slice(-6)}`
    room.calls.push(this)
  }

  participants (): ParticipantInfo[] { return this.room.members(this) }
  useForwarder (link: ForwarderLink | undefined): void {
    this.link = link
    this.forwarder = link?.forwarder ?? null
    this.history.push(this.forwarder)
  }

  emit (event: CallEvent): void { this.events.push(event) }
}

const services: ForwarderService[] = []
const clients: ForwarderClient[] = []

async function waitFor<T> (what: string, probe: () => T | undefined | false, deadlineMs = DEADLINE_MS): Promise<T> {
  const until = Date.now() + deadlineMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

interface Donor { node: Libp2p, service: ForwarderService, media: NodeSettings['media'], engine: () => FakeEngine | undefined, id: string }

/** A donor; with `relay`, it holds a reservation there first, so it announces its relayed address too. */
async function donor (options: { circuits?: boolean, relayedOnly?: boolean, relay?: Libp2p } = {}): Promise<Donor> {
  const node = await loopbackNode({ circuits: options.circuits, relayedOnly: options.relayedOnly })
  if (options.relay !== undefined) {
    await node.dial(options.relay.getMultiaddrs()[0]!)
    await waitFor('a reservation on the relay', () => node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')))
  }
  const media = { forward: true, maxStreams: 64, uploadRateBytesPerSec: 1 << 20 }
  let engine: FakeEngine | undefined
  const service = new ForwarderService({
    media: () => media,
    createWorker: () => { throw new Error('the stand-in engine starts no worker') },
    createEngine: init => (engine = new FakeEngine(init))
  })
  await service.attach(node)
  services.push(service)
  return { node, service, media, engine: () => engine, id: node.peerId.toString() }
}

interface Member { node: Libp2p, client: ForwarderClient, reputation: ForwarderReputation, receipts: Array<{ contentId: string, perPeer: Record<string, number> }> }

let dbCount = 0
async function member (donors: Donor[], options: { circuits?: boolean, relay?: Libp2p } = {}): Promise<Member> {
  const node = await loopbackNode({ circuits: options.circuits })
  if (options.relay !== undefined) await node.dial(options.relay.getMultiaddrs()[0]!)
  for (const d of donors) await node.dial(d.node.getMultiaddrs()[0]!)
  const reputation = new ForwarderReputation(await openCallsDb(`forwarder-client-${process.pid}-${dbCount++}`))
  const receipts: Member['receipts'] = []
  const client = new ForwarderClient({
    reputation,
    trackReceipts: (stats, contentId) => {
      receipts.push({ contentId, perPeer: stats.perPeer })
      return { stop: () => {} }
    },
    intervalMs: 100,
    leaderWaitMs: 1500,
    failedGraceMs: 500
  })
  await client.attach(node)
  clients.push(client)
  return { node, client, reputation, receipts }
}

after(async () => {
  for (const client of clients) await client.detach()
  for (const service of services) await service.detach()
  await stopLoopbackNodes()
})

/** One member more than a mesh carries. */
const SIZE = MESH_MAX_PARTICIPANTS + 1

describe('forwarder client', () => {
  let donors: Donor[]
  let members: Member[]
  let room: Room
  let calls: FakeCall[]

  before(async () => {
    donors = [await donor(), await donor()]
    members = []
    for (let i = 0; i < SIZE; i++) members.push(await member(donors))
    // announcements go out every 5 s; each member must have heard both donors, with their addresses
    for (const m of members) await waitFor('both forwarders announced', () => m.client.heardForwarders().filter(a => a.addrs.length > 0).length === 2)
    room = new Room()
    calls = members.map(m => new FakeCall(room, m.node.peerId.toString()))
  })

  it('a room at the mesh limit stays a mesh; one more member takes them all to the same forwarder', async () => {
    const mesh = calls.slice(0, MESH_MAX_PARTICIPANTS)
    room.calls.splice(0, room.calls.length, ...mesh)
    mesh.forEach((call, i) => { members[i]!.client.manage(call, `member-${i}`) })
    // at the mesh limit nobody attaches, even well past the leader's wait (1.5 s = 15 passes)
    const passes = mesh.map((_, i) => members[i]!.client.passes)
    await waitFor('30 passes of each member', () => mesh.every((_, i) => members[i]!.client.passes >= passes[i]! + 30))
    assert.deepEqual(mesh.map(c => c.history), mesh.map(() => []))

    const last = SIZE - 1
    room.calls.push(calls[last]!)
    members[last]!.client.manage(calls[last]!, `member-${last}`)
    const chosen = await waitFor('all on one forwarder', () => {
      const names = new Set(calls.map(c => c.forwarder))
      return names.size === 1 && !names.has(null) ? [...names][0]! : undefined
    })
    const engine = donors.find(d => d.id === chosen)!.engine()!
    await waitFor('a leg per member at the chosen forwarder', () => engine.legs.size === SIZE)
    assert.deepEqual([...engine.legs.values()].map(l => l.peerId).sort(), calls.map(c => c.self).sort())
  })

  it('carries the page\'s signalling both ways and counts its bytes for receipts', async () => {
    const call = calls[0]!
    const chosen = call.forwarder!
    const engine = donors.find(d => d.id === chosen)!.engine()!
    const legId = `${ROOM}/${call.self}`
    engine.init.send(legId, { type: 'tracks', mids: { 2: calls[1]!.self } })
    engine.init.send(legId, { type: 'signal', data: { sdp: { type: 'offer', sdp: 'v=0' } } })
    await waitFor('the offer at the call', () => call.events.some(e => e.type === 'forwarder-signal'))
    assert.deepEqual(call.events.filter(e => e.type === 'tracks' || e.type === 'forwarder-signal'), [
      { type: 'tracks', forwarder: chosen, mids: { 2: calls[1]!.self } },
      { type: 'forwarder-signal', forwarder: chosen, data: { sdp: { type: 'offer', sdp: 'v=0' } } }
    ])
    await call.link!.signal({ sdp: { type: 'answer', sdp: 'v=0' } })
    await waitFor('the answer at the forwarder', () => engine.signals.some(([leg]) => leg === legId))
    assert.deepEqual(engine.signals.find(([leg]) => leg === legId)?.[1], { sdp: { type: 'answer', sdp: 'v=0' } })
    // a malformed signal from the page is refused here, not sent
    await assert.rejects(call.link!.signal({ sdp: { type: 'bogus' } } as unknown as SignalData), { code: 5000 })

    call.link!.received(12_345)
    call.link!.received(10_000) // an older total: ignored
    assert.deepEqual(members[0]!.receipts, [{ contentId: ROOM, perPeer: { [chosen]: 12_345 } }])
  })

  it('the forwarder going away: back to mesh at once, then all on the other forwarder; the failure is kept', async () => {
    const first = calls[0]!.forwarder!
    const other = donors.find(d => d.id !== first)!
    const gone = donors.find(d => d.id === first)!
    gone.media.forward = false // the donor turns the role off: its streams close
    await waitFor('all on the other forwarder', () => calls.every(c => c.forwarder === other.id))
    for (const call of calls) {
      const at = call.history.indexOf(first)
      assert.ok(at >= 0, 'it was on the first forwarder')
      assert.equal(call.history[at + 1], null, 'then in mesh while it found another')
    }
    await waitFor('a leg per member at the other forwarder', () => other.engine()!.legs.size === SIZE)
    for (const m of members) assert.equal(m.reputation.failures(first), 1)
    // kept in IndexedDB: a new reputation on the same database reads it back
    const again = new ForwarderReputation(await openCallsDb(`forwarder-client-${process.pid}-0`))
    await again.load()
    assert.equal(again.failures(first), 1)
    assert.ok(again.penalty(first) > 0)
  })

  it('a page reporting its connection failed moves the call off it', async () => {
    const other = calls[0]!.forwarder!
    const call = calls[0]!
    const before = call.history.length
    // the page reports it with every stats report until its leg connects again (the first ones, in the grace after attaching, are not taken)
    const link = call.link!
    await waitFor('the call back in mesh', () => {
      link.failed()
      return call.history.length > before && call.forwarder === null
    })
    assert.equal(members[0]!.reputation.failures(other), 1)
  })

  it('the room shrinking to MESH_RETURN_PARTICIPANTS takes the others back to mesh', async () => {
    const onForwarder = calls.slice(1).filter(c => c.forwarder !== null)
    assert.equal(onForwarder.length, SIZE - 1)
    const leaving = calls.slice(MESH_RETURN_PARTICIPANTS)
    for (const [i, call] of leaving.entries()) {
      call.isEnded = true
      members[MESH_RETURN_PARTICIPANTS + i]!.client.release(call)
    }
    await waitFor('the ones left in mesh', () => calls.slice(0, MESH_RETURN_PARTICIPANTS).every(c => c.forwarder === null))
    assert.equal(members[SIZE - 1]!.client.forwarderOf(calls[SIZE - 1]!.id), undefined)
  })
})

describe('forwarder client: a direct leg watched through a relayed connection', () => {
  let relay: Libp2p
  let forwarder: Donor
  let members: Member[]
  let calls: FakeCall[]

  const relayedTo = (m: Member): Array<{ close: () => Promise<void> }> => m.node.getConnections(forwarder.node.peerId).filter(c => c.status === 'open' && c.limits !== undefined)

  /** Peers the relay takes no connection from. */
  const refused = new Set<string>()

  before(async () => {
    relay = await loopbackNode({ relay: true, refuse: refused })
    forwarder = await donor({ circuits: true, relay })
    members = []
    for (let i = 0; i < SIZE; i++) members.push(await member([forwarder], { circuits: true, relay }))
    for (const m of members) await waitFor('the forwarder\'s relayed address announced', () => m.client.heardForwarders().some(a => a.addrs.some(addr => addr.toString().includes('/p2p-circuit/'))))
    const room = new Room()
    calls = members.map(m => new FakeCall(room, m.node.peerId.toString()))
    calls.forEach((call, i) => { members[i]!.client.manage(call, `member-${i}`) })
    await waitFor('all on the forwarder', () => calls.every(c => c.forwarder === forwarder.id))
    // each leg is on the direct (TCP) connection, with a relayed one beside it
    for (const m of members) await waitFor('a relayed connection beside the leg', () => relayedTo(m).length > 0)
  })

  it('the relayed connection closing while the forwarder answers: the call stays, and it is watched again', async () => {
    const before = calls[0]!.history.length
    for (const connection of relayedTo(members[0]!)) await connection.close()
    await waitFor('a new relayed connection', () => relayedTo(members[0]!).length > 0)
    assert.equal(calls[0]!.forwarder, forwarder.id)
    assert.equal(calls[0]!.history.length, before)
  })

  it('the relayed connection closing and no answer to a ping: the call fails over at once, the others stay', async () => {
    await forwarder.node.unhandle('/ipfs/ping/1.0.0')
    for (const connection of relayedTo(members[0]!)) await connection.close()
    // long before its announcements (every 5 s) would be missed for 15 s
    await waitFor('the call back in mesh', () => calls[0]!.forwarder === null, 5_000)
    assert.equal(members[0]!.reputation.failures(forwarder.id), 1)
    assert.match(members[0]!.client.status().calls[0]!.lastError ?? '', /did not answer a ping/)
    assert.ok(calls.slice(1).every(c => c.forwarder === forwarder.id))
  })

  it('the forwarder gone from its relay while its direct connection hangs: the relay\'s answer fails the call over, not the ping\'s timeout', async () => {
    const m = members[1]!
    // a ping that is never answered, as over the WebRTC connection of a browser that was killed
    await forwarder.node.unhandle('/ipfs/ping/1.0.0')
    await forwarder.node.handle('/ipfs/ping/1.0.0', () => {})
    refused.add(forwarder.id)
    await relay.hangUp(forwarder.node.peerId)
    await waitFor('the call back in mesh', () => calls[1]!.forwarder === null, 5_000)
    assert.match(m.client.status().calls[0]!.lastError ?? '', /none of its relays has a connection to it/)
    assert.equal(m.reputation.failures(forwarder.id), 1)
  })
})

/** How long the relay of the relayed-leg tests lets a relayed connection last. */
const RELAYED_LIMIT_MS = 3_000

describe('forwarder client: a relayed leg', () => {
  let forwarder: Donor
  let members: Member[]
  let calls: FakeCall[]

  before(async () => {
    // relayed connections that end after 3 s, as the relays' limit ends them after 2 min
    const relay = await loopbackNode({ relay: { circuitMs: RELAYED_LIMIT_MS } })
    // the relay carries the announcements between the donor and the members, as the real relays do
    ;(relay.services as unknown as { pubsub: { subscribe: (topic: string) => void } }).pubsub.subscribe(FORWARDERS_TOPIC)
    forwarder = await donor({ circuits: true, relayedOnly: true, relay })
    members = []
    for (let i = 0; i < SIZE; i++) members.push(await member([], { circuits: true, relay }))
    for (const m of members) await waitFor('the forwarder announced', () => m.client.heardForwarders().some(a => a.peerId === forwarder.id && a.addrs.length > 0))
    const room = new Room()
    calls = members.map(m => new FakeCall(room, m.node.peerId.toString()))
    calls.forEach((call, i) => { members[i]!.client.manage(call, `member-${i}`) })
    await waitFor('all on the forwarder', () => calls.every(c => c.forwarder === forwarder.id))
  })

  it('ending with its relayed connection (the relay\'s limit ran out): attached again at once, no failure recorded', async () => {
    assert.ok(members.every(m => m.node.getConnections(forwarder.node.peerId).every(c => c.limits !== undefined)), 'the legs are relayed')
    await waitFor('every call on the forwarder again after its first leg ended', () => calls.every(c => c.history.length >= 3 && c.forwarder === forwarder.id))
    for (const [i, call] of calls.entries()) {
      assert.deepEqual(call.history.slice(0, 3), [forwarder.id, null, forwarder.id])
      assert.equal(members[i]!.reputation.failures(forwarder.id), 0)
    }
  })
})
