/**
 * Calls on the node (docs/CALLS.md): a NetworkCapability that joins rooms' gossipsub topics
 * and runs one RoomCall per joined room. Pages reach it through the page API's call host.
 *
 * @example
 * ```ts
 * const calls = new CallService({ db: await openCallsDb(), iceServers: () => node.settings().iceServers })
 * createPeerloomNode({ db, capabilities: [calls] })
 * // rooms above MESH_MAX_PARTICIPANTS go through a forwarder: new CallService({ …, forwarders: new ForwarderClient(…) })
 * const { call, result } = await calls.join({ origin, room: 'standup', name: 'Ada', media, onEvent })
 * ```
 */
import type { Libp2p, Logger, PeerId } from '@libp2p/interface'
import { CallLimitError, CallNotFoundError, DisconnectedError, TimeoutError } from '@peerloom/shared'
import type { CallEvent, CallJoinResult, MediaFlags } from '@peerloom/shared/calls/api'
import { RoomCipher, generateEcdhKeyPair, openRoomId, openRoomKey, parseRoomName, roomTopic, shortId } from '@peerloom/shared/calls/room'
import { ChatHistory } from './calls-db.ts'
import type { CallsDb } from './calls-db.ts'
import type { ForwarderClient } from './forwarder-client.ts'
import { JOIN_KEY_TIMEOUT_MS, MAX_ROOM_PARTICIPANTS } from './constants.ts'
import { RoomCall } from './room-call.ts'
import type { GatedRoomKeys } from './room-keys.ts'

/** The part of gossipsub calls use (the node's `pubsub` service). */
export interface CallPubSub {
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  publish: (topic: string, data: Uint8Array) => Promise<unknown>
  addEventListener: {
    (type: 'message', listener: (event: CustomEvent<PubSubMessage>) => void): void
    (type: 'subscription-change', listener: (event: CustomEvent<SubscriptionChange>) => void): void
  }
  removeEventListener: {
    (type: 'message', listener: (event: CustomEvent<PubSubMessage>) => void): void
    (type: 'subscription-change', listener: (event: CustomEvent<SubscriptionChange>) => void): void
  }
}

/** A peer's topics changed (gossipsub's `subscription-change`). */
export interface SubscriptionChange {
  peerId: PeerId
  subscriptions: Array<{ topic: string, subscribe: boolean }>
}

/** A gossipsub message as the service reads it: only signed ones name a sender. */
export type PubSubMessage = { type: 'signed', from: PeerId, topic: string, data: Uint8Array } | { type: 'unsigned', topic: string, data: Uint8Array }

export interface CallServiceInit {
  db: CallsDb
  /** ICE servers for the pages' RTCPeerConnections (the node's settings). */
  iceServers: () => RTCIceServer[]
  /** Keys of gated rooms; without it a gated room cannot be joined (5011). */
  gatedKeys?: GatedRoomKeys
  /** @default MAX_ROOM_PARTICIPANTS */
  maxParticipants?: number
  /** Takes rooms above MESH_MAX_PARTICIPANTS to a forwarder; without it every room stays a mesh. */
  forwarders?: ForwarderClient
}

export interface JoinOptions {
  /** The page's origin: open rooms are per origin. */
  origin: string
  room: string
  name: string
  media: MediaFlags
  onEvent: (event: CallEvent) => void
}

export class CallService {
  private readonly init: CallServiceInit
  private readonly history: ChatHistory
  private libp2p?: Libp2p
  private pubsub?: CallPubSub
  private log?: Logger
  /** Joined calls by room topic (one per room: a browser is one member). */
  private readonly byTopic = new Map<string, RoomCall>()
  private readonly byId = new Map<string, RoomCall>()
  private readonly onMessage = (event: CustomEvent<PubSubMessage>): void => {
    const message = event.detail
    const call = this.byTopic.get(message.topic)
    if (call === undefined) return
    // StrictSign: an unsigned message names no sender and is not ours to read
    if (message.type !== 'signed') return
    call.receive(message.from.toString(), message.data)
  }

  /** A peer (a relay, mostly) took up a room's topic: a hello sent before then may not have got out. */
  private readonly onSubscriptionChange = (event: CustomEvent<SubscriptionChange>): void => {
    for (const { topic, subscribe } of event.detail.subscriptions) {
      if (subscribe) this.byTopic.get(topic)?.topicPeerJoined()
    }
  }

  constructor (init: CallServiceInit) {
    this.init = init
    this.history = new ChatHistory(init.db)
  }

  async attach (libp2p: Libp2p): Promise<void> {
    const pubsub = (libp2p.services as { pubsub?: CallPubSub }).pubsub
    if (pubsub === undefined) throw new Error('calls need the node\'s gossipsub service (`pubsub`)')
    this.libp2p = libp2p
    this.pubsub = pubsub
    this.log = libp2p.logger.forComponent('peerloom:calls')
    pubsub.addEventListener('message', this.onMessage)
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    await this.init.forwarders?.attach(libp2p)
    for (const [topic, call] of this.byTopic) {
      pubsub.subscribe(topic)
      call.resume(this.publisher(topic))
    }
  }

  async detach (): Promise<void> {
    await this.init.forwarders?.detach()
    for (const call of this.byTopic.values()) call.suspend()
    this.pubsub?.removeEventListener('message', this.onMessage)
    this.pubsub?.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.pubsub = undefined
    this.libp2p = undefined
  }

  private publisher (topic: string): (data: Uint8Array) => Promise<void> {
    return async data => {
      const pubsub = this.pubsub
      if (pubsub === undefined) throw new DisconnectedError('the node\'s network is restarting')
      await pubsub.publish(topic, data)
    }
  }

  /** This node's peer id, once the network is up. */
  peerId (): string | undefined {
    return this.libp2p?.peerId.toString()
  }

  /**
   * Joins a room for a page; events go to `onEvent` (none before this resolves). Throws
   * InvalidParamsError (5000) for a malformed room, NotFoundError (5001) for an unregistered
   * gated room, AccessDeniedError (5011) when its key service refuses, CallLimitError (5021)
   * when this browser is already in the room.
   */
  async join (options: JoinOptions): Promise<{ call: RoomCall, result: CallJoinResult }> {
    const room = parseRoomName(options.room)
    const libp2p = this.libp2p
    if (libp2p === undefined || this.pubsub === undefined) throw new DisconnectedError('the Peerloom node\'s network is not up yet; try again in a moment')
    let roomId: string
    let cipher: RoomCipher
    if (room.kind === 'open') {
      roomId = await openRoomId(options.origin, room.name)
      cipher = await RoomCipher.create(await openRoomKey(options.origin, room.name), roomId, 0)
    } else {
      roomId = room.contentId
      const keys = this.init.gatedKeys
      if (keys === undefined) throw new DisconnectedError('gated rooms need the key service, which this node has not configured')
      // fresh: joining re-checks the policy now, not when a grant was last issued
      const { key, keyVersion } = await keys.key(room.contentId, { fresh: true, signal: AbortSignal.timeout(JOIN_KEY_TIMEOUT_MS) }).catch((err: unknown) => {
        if ((err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError') throw new TimeoutError(`the key service did not answer within ${JOIN_KEY_TIMEOUT_MS / 1000} s`)
        throw err
      })
      cipher = await RoomCipher.create(key, roomId, keyVersion)
    }
    const topic = roomTopic(roomId)
    if (this.byTopic.has(topic)) throw new CallLimitError('this browser is already in this room (in another tab or frame); leave it there first')
    const call = new RoomCall({
      callId: shortId(),
      origin: options.origin,
      room,
      roomId,
      name: options.name,
      media: options.media,
      self: libp2p.peerId.toString(),
      cipher,
      ecdh: await generateEcdhKeyPair(),
      publish: this.publisher(topic),
      history: this.history,
      onEvent: options.onEvent,
      onEnded: () => {
        if (this.byTopic.get(topic) === call) {
          this.byTopic.delete(topic)
          try {
            this.pubsub?.unsubscribe(topic)
          } catch (err) {
            // the node is stopping: its subscriptions go with it
            this.log?.('could not unsubscribe from %s: %s', topic, (err as Error).message)
          }
        }
        this.byId.delete(call.id)
        this.init.forwarders?.release(call)
      },
      iceServers: this.init.iceServers(),
      maxParticipants: this.init.maxParticipants ?? MAX_ROOM_PARTICIPANTS,
      ...(this.init.gatedKeys === undefined ? {} : { gatedKeys: this.init.gatedKeys }),
      log: this.log as Logger
    })
    this.byTopic.set(topic, call)
    this.byId.set(call.id, call)
    this.pubsub.subscribe(topic)
    const result = await call.joinResult()
    call.start()
    this.init.forwarders?.manage(call, options.name)
    return { call, result }
  }

  /** A joined call, or CallNotFoundError (5020). */
  call (callId: string): RoomCall {
    const call = this.byId.get(callId)
    if (call === undefined) throw new CallNotFoundError(`no call ${callId}: it was left, or never joined from this page`)
    return call
  }

  /** Calls now joined (Options and tests). */
  calls (): RoomCall[] {
    return [...this.byId.values()]
  }
}
