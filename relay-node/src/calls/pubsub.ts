/**
 * Gossipsub on the relay (docs/CALLS.md): relays carry the room topics
 * (`/peerloom/room/1/<64 hex>`) and `/peerloom/forwarders/1` for the browsers connected to
 * them, and mesh those topics with the other relays, so browsers on different relays share a
 * room and no relay is a point of failure.
 *
 * - A relay subscribes to a room topic while at least one connected browser (an identified
 *   peer that is not a relay) is subscribed to it, and always to the forwarders topic. Other
 *   relays' subscriptions never make it subscribe: two relays would otherwise keep each other
 *   in every room forever.
 * - Only those topics are accepted. Messages must be signed (StrictSign), at most 64 KiB, and
 *   shaped as CALLS.md says (an envelope, a rekey notice, a forwarder announcement whose
 *   addresses all lead to its signer); they are rate limited per sending peer before the
 *   signature is checked and per author after it.
 *   A browser that breaks these rules loses score until gossipsub ignores it (graylist).
 */
import { gossipsub, TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, GossipsubOpts, Message } from '@libp2p/gossipsub'
import type { RPC } from '@libp2p/gossipsub/message'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { parseEnvelope } from '@peerloom/shared/calls/room'
import { FORWARDERS_TOPIC, ROOM_TOPIC_PREFIX } from '@peerloom/shared/protocols'
import { TokenBucket } from '@peerloom/shared/token-bucket'
import {
  IDENTIFY_WAIT_MS, MAX_PUBSUB_MESSAGE_BYTES, MAX_ROOMS_PER_PEER, MAX_SUBSCRIPTIONS_PER_PEER, PUBSUB_AUTHOR_RATE, PUBSUB_PENALTY_DECAY, PUBSUB_PEER_RATE, PUBSUB_RECONCILE_MS,
  PUBSUB_RELAY_PEER_RATE
} from '../constants.ts'
import type { PubsubRate } from '../constants.ts'
import { HOP_PROTOCOL } from '../limits.ts'

/**
 * Why a forwarder announcement's `addrs` is refused (CALLS.md, Forwarders): more than
 * MAX_ANNOUNCED_ADDRS, one longer than MAX_ANNOUNCED_ADDR_CHARS, one that is not a multiaddr,
 * or one that does not end in `/p2p/<the announcer's peer id>`.
 */
export type AddrsReason = 'addrs-count' | 'addrs-length' | 'addrs-format' | 'addrs-peer'

/** Why a message or subscription was dropped; the label of `peerloom_pubsub_messages_rejected_total`. */
export type RejectReason = 'topic' | 'size' | 'malformed' | 'rate' | 'not-carried' | 'subscriptions' | AddrsReason

/** Addresses one forwarder announcement may carry. @default 8 */
export const MAX_ANNOUNCED_ADDRS = 8
/** Characters of one announced address. @default 512 */
export const MAX_ANNOUNCED_ADDR_CHARS = 512

const ROOM_TOPIC = /^\/peerloom\/room\/1\/[0-9a-f]{64}$/

/** True for `/peerloom/room/1/<64 lowercase hex>`. */
export function isRoomTopic (topic: string): boolean {
  return topic.length === ROOM_TOPIC_PREFIX.length + 64 && ROOM_TOPIC.test(topic)
}

/** A topic a relay carries at all. */
export function isCarriedTopic (topic: string): boolean {
  return topic === FORWARDERS_TOPIC || isRoomTopic(topic)
}

const uint = z.number().int().min(0).max(0xffffffff)
/** A forwarder's announcement (CALLS.md, Forwarders); `addrs` is checked on its own, for a coded reason. */
const forwarderSchema = z.object({ v: z.literal(1), load: uint, maxStreams: uint, rooms: uint, addrs: z.array(z.string()).optional() })

/**
 * What is wrong with a forwarder announcement from `announcer` (its signer), or undefined when
 * it is sound: `malformed` when it is not the JSON CALLS.md shapes, an AddrsReason when its
 * `addrs` would send participants anywhere but to the announcer. Announcements without `addrs`
 * pass (participants only probe forwarders that have some).
 */
export function announcementProblem (data: Uint8Array, announcer: string): 'malformed' | AddrsReason | undefined {
  let parsed
  try {
    parsed = forwarderSchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)))
  } catch {
    return 'malformed'
  }
  if (!parsed.success) return 'malformed'
  const addrs = parsed.data.addrs ?? []
  if (addrs.length > MAX_ANNOUNCED_ADDRS) return 'addrs-count'
  for (const text of addrs) {
    if (text.length > MAX_ANNOUNCED_ADDR_CHARS) return 'addrs-length'
    let last
    try {
      const components = multiaddr(text).getComponents()
      // multiaddr does not check a /p2p/ value; a relayed address holds two, and both must be peer ids
      for (const component of components) if (component.name === 'p2p') peerIdFromString(component.value ?? '')
      last = components.at(-1)
    } catch {
      return 'addrs-format'
    }
    if (last?.name !== 'p2p' || last.value !== announcer || !text.endsWith(`/p2p/${announcer}`)) return 'addrs-peer'
  }
  return undefined
}

/**
 * What is wrong with `data` as a message for `topic` from `author`, or undefined: on a room
 * topic it must be the sealed envelope or the rekey notice (shared parseEnvelope, as members
 * read them), on the forwarders topic an announcement (announcementProblem). The relay cannot
 * open an envelope; members check what is inside.
 */
export function messageProblem (topic: string, data: Uint8Array, author: string): 'malformed' | AddrsReason | undefined {
  if (topic === FORWARDERS_TOPIC) return announcementProblem(data, author)
  try {
    parseEnvelope(data)
    return undefined
  } catch {
    return 'malformed'
  }
}

/** What the carrier reports to metrics and logs. */
export interface CarrierEvents {
  onRelayed?: (topic: string) => void
  onRejected?: (reason: RejectReason) => void
  log?: (line: string) => void
}

export interface RoomCarrierInit extends CarrierEvents {
  /** Room topics carried at once; beyond it new rooms are refused. */
  maxRooms: number
}

/** What the carrier reads of gossipsub's own state for diagnostics (the class has it; its public interface does not). */
interface GossipState {
  getMeshPeers?: (topic: string) => string[]
  getScore?: (peer: string) => number
  streamsInbound?: Map<string, unknown>
  streamsOutbound?: Map<string, unknown>
}

/** A peer's gossipsub score as the thresholds gossipsub acts on (defaults: 0 prunes, -10, -50, -80). */
function scoreBand (score: number): string {
  if (score >= 0) return 'ok'
  if (score >= -10) return 'negative (pruned from meshes)'
  if (score >= -50) return 'below gossip'
  if (score >= -80) return 'below publish'
  return 'graylisted'
}

/** Two token buckets, messages and bytes. */
class Allowance {
  private readonly messages: TokenBucket
  private readonly bytes: TokenBucket

  constructor (rate: PubsubRate) {
    this.messages = new TokenBucket({ rate: rate.messagesPerSecond, burst: rate.messageBurst })
    this.bytes = new TokenBucket({ rate: rate.bytesPerSecond, burst: rate.byteBurst })
  }

  take (bytes: number): boolean {
    if (this.messages.available < 1 || this.bytes.available < bytes) return false
    return this.messages.tryTake(1) && this.bytes.tryTake(bytes)
  }
}

/** The shape of gossipsub's RPC handler, which the carrier wraps to filter before decoding messages. */
interface RpcHandler {
  handleReceivedRpc: (from: PeerId, rpc: RPC) => Promise<void>
}

/**
 * Decides which topics the relay carries and polices what arrives on them. Create it before the
 * node (its `service()` goes into libp2p's services as `pubsub`), then `start(node)`.
 */
export class RoomCarrier {
  private readonly init: RoomCarrierInit
  private node?: Libp2p<{ pubsub: GossipSub }>
  /** Peers identified as relays (they speak circuit relay's hop protocol). */
  private readonly relays = new Set<string>()
  /** Peers identified as anything else: browsers and other clients. */
  private readonly clients = new Set<string>()
  /** Room topics each peer said it subscribed to, in order. */
  private readonly subscriptions = new Map<string, Set<string>>()
  private readonly carried = new Set<string>()
  private readonly peerAllowance = new Map<string, Allowance>()
  private readonly authorAllowance = new Map<string, Allowance>()
  /** Misbehaviour per peer, decaying; gossipsub's app-specific score is its negative. */
  private readonly penalties = new Map<string, number>()
  /** RPCs of peers not identified yet, held in order until identify says what the peer is. */
  private readonly held = new Map<string, Promise<void>>()
  private readonly identified = new Map<string, () => void>()
  /** The gossip trouble last logged per connected browser (none while healthy): a change is logged, so a run's log shows when gossip to it stopped. */
  private readonly gossipState = new Map<string, string>()
  private reconcileQueued = false
  private timer?: ReturnType<typeof setInterval>
  private refusedRooms = 0

  constructor (init: RoomCarrierInit) {
    this.init = init
  }

  /** Rooms carried now. */
  get rooms (): number {
    return this.carried.size
  }

  /** The gossipsub service factory for libp2p's `services.pubsub`. */
  service (): ReturnType<typeof gossipsub> {
    const options: Partial<GossipsubOpts> = {
      globalSignaturePolicy: 'StrictSign',
      fallbackToFloodsub: false,
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // a room has at most 32 members (CALLS.md) plus the relays carrying it: keep every
      // one of them in the mesh, so none depends on lazy gossip for a presence or a signal
      D: 16,
      Dlo: 8,
      Dhi: 64,
      Dscore: 8,
      Dout: 2,
      // an RPC frame carries one message of at most 64 KiB plus control; IHAVE lists can be longer
      maxInboundDataLength: 1024 * 1024,
      // another relay announces every room it carries (a browser's are capped below): ~15,000 topics
      maxTopicBytesPerPeer: 16 * 1024 * 1024,
      scoreParams: {
        // many browsers share one address behind a NAT, and every peer is on loopback in a devnet
        IPColocationFactorWeight: 0,
        appSpecificScore: peer => -(this.penalties.get(peer) ?? 0),
        appSpecificWeight: 10
      }
    }
    const factory = gossipsub(options)
    return components => {
      const pubsub = factory(components)
      this.wrapRpc(pubsub as unknown as RpcHandler)
      return pubsub
    }
  }

  /** Watches subscriptions and identities once the node runs. */
  start (node: Libp2p<{ pubsub: GossipSub }>): void {
    this.node = node
    const pubsub = node.services.pubsub
    pubsub.topicValidators.set(FORWARDERS_TOPIC, this.validator)
    pubsub.subscribe(FORWARDERS_TOPIC)
    node.addEventListener('peer:identify', event => {
      const peer = event.detail.peerId.toString()
      this.peerAllowance.delete(peer) // its rate depends on what it is
      if (event.detail.protocols.includes(HOP_PROTOCOL)) {
        this.relays.add(peer)
        this.clients.delete(peer)
      } else {
        this.clients.add(peer)
        this.relays.delete(peer)
      }
      this.identified.get(peer)?.()
      this.queueReconcile()
    })
    node.addEventListener('peer:disconnect', event => {
      const peer = event.detail.toString()
      this.relays.delete(peer)
      this.clients.delete(peer)
      this.subscriptions.delete(peer)
      this.peerAllowance.delete(peer)
      this.queueReconcile()
    })
    pubsub.addEventListener('subscription-change', event => {
      const peer = event.detail.peerId.toString()
      let topics = this.subscriptions.get(peer)
      for (const { topic, subscribe } of event.detail.subscriptions) {
        if (!isRoomTopic(topic)) continue
        if (subscribe) {
          topics ??= new Set()
          topics.add(topic)
        } else {
          topics?.delete(topic)
        }
      }
      if (topics === undefined || topics.size === 0) this.subscriptions.delete(peer)
      else this.subscriptions.set(peer, topics)
      this.queueReconcile()
    })
    this.timer = setInterval(() => { this.sweep() }, PUBSUB_RECONCILE_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** Publishes `data` on `topic` from this relay's own peer id (the key service's rekey notice). */
  async publish (topic: string, data: Uint8Array): Promise<number> {
    const pubsub = this.node?.services.pubsub
    if (pubsub === undefined) throw new Error('the relay is not started')
    const { recipients } = await pubsub.publish(topic, data)
    return recipients.length
  }

  /** Peers subscribed to `topic`, as gossipsub sees them. */
  subscribers (topic: string): string[] {
    return this.node?.services.pubsub.getSubscribers(topic).map(peer => peer.toString()) ?? []
  }

  private reject (reason: RejectReason, peer?: string, weight = 1): void {
    this.init.onRejected?.(reason)
    // only a peer known not to be a relay is blamed: a relay passes on what others sent
    if (peer !== undefined && this.clients.has(peer)) this.penalties.set(peer, (this.penalties.get(peer) ?? 0) + weight)
  }

  /** Filters an RPC before gossipsub reads it: foreign topics, oversized and uncarried messages, floods. */
  private wrapRpc (pubsub: RpcHandler): void {
    if (typeof pubsub.handleReceivedRpc !== 'function') throw new Error('@libp2p/gossipsub no longer has handleReceivedRpc; update relay-node/src/calls/pubsub.ts')
    const handle = pubsub.handleReceivedRpc.bind(pubsub)
    const filtered = async (from: PeerId, rpc: RPC): Promise<void> => {
      const peer = from.toString()
      const isClient = !this.relays.has(peer)
      const rooms = this.subscriptions.get(peer)?.size ?? 0
      let added = 0
      const subscriptions = rpc.subscriptions.filter(sub => {
        if (sub.topic === undefined || !isCarriedTopic(sub.topic)) {
          this.reject('topic', peer)
          return false
        }
        // a browser's room topics are bounded here, a relay's by gossipsub's per-peer topic budget
        if (isClient && sub.subscribe === true && isRoomTopic(sub.topic) && this.subscriptions.get(peer)?.has(sub.topic) !== true && rooms + ++added > MAX_SUBSCRIPTIONS_PER_PEER) {
          this.reject('subscriptions', peer)
          return false
        }
        return true
      })
      const messages = rpc.messages.filter(message => {
        const size = message.data?.length ?? 0
        if (!isCarriedTopic(message.topic)) {
          this.reject('topic', peer)
          return false
        }
        if (size > MAX_PUBSUB_MESSAGE_BYTES) {
          this.reject('size', peer)
          return false
        }
        if (message.topic !== FORWARDERS_TOPIC && !this.carried.has(message.topic)) {
          this.reject('not-carried')
          return false
        }
        let allowance = this.peerAllowance.get(peer)
        if (allowance === undefined) {
          allowance = new Allowance(this.relays.has(peer) ? PUBSUB_RELAY_PEER_RATE : PUBSUB_PEER_RATE)
          this.peerAllowance.set(peer, allowance)
        }
        if (!allowance.take(size)) {
          this.reject('rate', peer, 0.5)
          return false
        }
        return true
      })
      await handle(from, { ...rpc, subscriptions, messages })
    }
    pubsub.handleReceivedRpc = async (from, rpc) => {
      const peer = from.toString()
      const queued = this.held.get(peer)
      if (queued === undefined && (this.relays.has(peer) || this.clients.has(peer))) {
        await filtered(from, rpc)
        return
      }
      // what a peer may subscribe to depends on whether it is a relay: wait for identify
      // (normally a few ms), keeping its RPCs in order
      const run = (queued ?? this.whenIdentified(peer)).then(async () => { await filtered(from, rpc) })
      const tail = run.catch(() => {})
      this.held.set(peer, tail)
      void tail.then(() => { if (this.held.get(peer) === tail) this.held.delete(peer) })
      await run
    }
  }

  /** Resolves once `peer` is identified, or after IDENTIFY_WAIT_MS (it is then taken for a browser). */
  private async whenIdentified (peer: string): Promise<void> {
    await new Promise<void>(resolve => {
      const previous = this.identified.get(peer)
      const done = (): void => {
        clearTimeout(timer)
        if (this.identified.get(peer) === done) this.identified.delete(peer)
        if (!this.relays.has(peer)) this.clients.add(peer)
        previous?.()
        resolve()
      }
      const timer = setTimeout(done, IDENTIFY_WAIT_MS)
      timer.unref()
      this.identified.set(peer, done)
    })
  }

  /** Runs after the signature check: the author's own rate, and the message's shape. */
  private readonly validator = (propagationSource: PeerId, message: Message): TopicValidatorResult => {
    const source = propagationSource.toString()
    if (message.type !== 'signed') {
      this.reject('malformed', source)
      return TopicValidatorResult.Reject
    }
    const author = message.from.toString()
    let allowance = this.authorAllowance.get(author)
    if (allowance === undefined) {
      allowance = new Allowance(PUBSUB_AUTHOR_RATE)
      this.authorAllowance.set(author, allowance)
    }
    if (!allowance.take(message.data.length)) {
      // the author itself is rejected (and scored); a relay passing its flood on is only ignored
      this.reject('rate', source, 0.5)
      return author === source ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    }
    const problem = messageProblem(message.topic, message.data, author)
    if (problem !== undefined) {
      // what the author signed is wrong wherever it came from: gossipsub scores the source for it too
      this.reject(problem, source)
      return TopicValidatorResult.Reject
    }
    this.init.onRelayed?.(message.topic)
    return TopicValidatorResult.Accept
  }

  private queueReconcile (): void {
    if (this.reconcileQueued) return
    this.reconcileQueued = true
    setTimeout(() => {
      this.reconcileQueued = false
      this.reconcile()
    }, 0).unref()
  }

  /** Subscribes to the rooms connected browsers are in, and leaves the others. */
  private reconcile (): void {
    const pubsub = this.node?.services.pubsub
    if (pubsub === undefined) return
    const wanted = new Set<string>()
    for (const [peer, topics] of this.subscriptions) {
      if (!this.clients.has(peer)) continue
      let taken = 0
      for (const topic of topics) {
        if (taken++ >= MAX_ROOMS_PER_PEER) break
        wanted.add(topic)
      }
    }
    for (const topic of this.carried) {
      if (wanted.has(topic)) continue
      pubsub.unsubscribe(topic)
      pubsub.topicValidators.delete(topic)
      this.carried.delete(topic)
    }
    for (const topic of wanted) {
      if (this.carried.has(topic)) continue
      if (this.carried.size >= this.init.maxRooms) {
        if (this.refusedRooms++ % 100 === 0) this.init.log?.(`carrying ${this.carried.size} rooms, the most --max-rooms allows; not carrying ${topic} (${this.refusedRooms} refused so far)`)
        continue
      }
      pubsub.topicValidators.set(topic, this.validator)
      pubsub.subscribe(topic)
      this.carried.add(topic)
    }
  }

  /** Periodic: forgets subscriptions gossipsub no longer holds, decays penalties, drops idle buckets. */
  private sweep (): void {
    const node = this.node
    if (node === undefined) return
    const held = new Map<string, Set<string>>()
    const subscribersOf = (topic: string): Set<string> => {
      let peers = held.get(topic)
      if (peers === undefined) {
        peers = new Set(node.services.pubsub.getSubscribers(topic).map(id => id.toString()))
        held.set(topic, peers)
      }
      return peers
    }
    for (const [peer, topics] of this.subscriptions) {
      for (const topic of topics) if (!subscribersOf(topic).has(peer)) topics.delete(topic)
      if (topics.size === 0) this.subscriptions.delete(peer)
    }
    const connected = new Set(node.getConnections().map(connection => connection.remotePeer.toString()))
    for (const peers of [this.clients, this.relays]) for (const peer of peers) if (!connected.has(peer)) peers.delete(peer)
    const factor = PUBSUB_PENALTY_DECAY ** (PUBSUB_RECONCILE_MS / 1000)
    for (const [peer, penalty] of this.penalties) {
      const next = penalty * factor
      if (next < 0.05) this.penalties.delete(peer)
      else this.penalties.set(peer, next)
    }
    // authors are anyone who ever posted; buckets are cheap, but not unbounded
    if (this.authorAllowance.size > 50_000) this.authorAllowance.clear()
    this.logGossipState(connected)
    this.reconcile()
  }

  /**
   * Logs a connected browser's gossip trouble when it changes: gossipsub no longer having it as
   * a peer with both streams (a read stream that ends drops the peer from gossipsub while its
   * connection stays up), a negative score band, a penalty; with the carried topics whose mesh
   * holds it.
   */
  private logGossipState (connected: Set<string>): void {
    const log = this.init.log
    const pubsub = this.node?.services.pubsub
    if (log === undefined || pubsub === undefined) return
    const state = pubsub as unknown as GossipState
    const peers = new Set(pubsub.getPeers().map(peer => peer.toString()))
    const meshes = [FORWARDERS_TOPIC, ...this.carried].map(topic => ({ topic, mesh: new Set(state.getMeshPeers?.(topic) ?? []) }))
    for (const peer of this.clients) {
      if (!connected.has(peer)) continue
      const score = state.getScore?.(peer) ?? 0
      const inMesh = meshes.filter(({ mesh }) => mesh.has(peer)).map(({ topic }) => topic === FORWARDERS_TOPIC ? 'forwarders' : topic.slice(ROOM_TOPIC_PREFIX.length, ROOM_TOPIC_PREFIX.length + 8))
      const penalty = Math.round(this.penalties.get(peer) ?? 0)
      const known = peers.has(peer)
      const inbound = state.streamsInbound?.has(peer) !== false
      const outbound = state.streamsOutbound?.has(peer) !== false
      const previous = this.gossipState.get(peer)
      // only trouble and the end of it are logged: a relay has thousands of healthy browsers
      if (known && inbound && outbound && score >= 0 && penalty === 0) {
        if (previous !== undefined) log(`client ${peer}: gossip healthy again`)
        this.gossipState.delete(peer)
        continue
      }
      const line = `gossip peer ${known ? 'yes' : 'NO'}, inbound ${inbound ? 'yes' : 'NO'}, outbound ${outbound ? 'yes' : 'NO'}, score ${scoreBand(score)}, penalty ${penalty}, in the mesh of ${inMesh.length === 0 ? 'nothing' : inMesh.join(' ')}, subscribed to ${this.subscriptions.get(peer)?.size ?? 0} rooms`
      if (previous === line) continue
      this.gossipState.set(peer, line)
      log(`client ${peer}: ${line}`)
    }
    for (const peer of this.gossipState.keys()) if (!this.clients.has(peer) || !connected.has(peer)) this.gossipState.delete(peer)
  }
}
