/**
 * Calls between the page and the node (docs/CALLS.md, Page API): what `peerloom.call.join`
 * gives a site, and the messages the page's `Call` and the node's call host exchange over the
 * page port. Types and one dependency-free rule, so the page bundle can import them for nothing.
 */

/** How a call is carried now: page to page, or through one or more forwarders. */
export type CallTopology = 'mesh' | 'forwarded'

export type CallState = 'connecting' | 'connected' | 'reconnecting' | 'left' | 'removed'

export interface MediaFlags {
  audio: boolean
  video: boolean
  screen: boolean
}

/** Another member of the room as its presence names it. */
export interface ParticipantInfo {
  peerId: string
  name: string
  media: MediaFlags
  /** The forwarder it uses, or null in a mesh. */
  forwarder: string | null
  /** ms since the epoch */
  joinedAt: number
}

export interface ChatMessage {
  /** 16 hex characters, unique per sender. */
  id: string
  /** Sender's peer id. */
  from: string
  name: string
  /** ms since the epoch, as the sender's node stamped it. */
  at: number
  text: string
  /** True for messages this browser sent. */
  own: boolean
}

/** A sender's media key, handed to the page's E2EE worker. */
export interface MediaKey {
  keyId: number
  /** 32 bytes, AES-256-GCM. */
  key: ArrayBuffer
}

export interface CallJoinParams {
  /** An open room's name, or a gated room's content id (0x + 64 hex). */
  room: string
  name: string
  media: MediaFlags
}

export interface CallJoinResult {
  callId: string
  roomId: string
  /** `joinedAt` as this browser's hellos give it (ms since the epoch). */
  self: { peerId: string, name: string, joinedAt: number }
  participants: ParticipantInfo[]
  history: ChatMessage[]
  topology: CallTopology
  iceServers: RTCIceServer[]
  ownKey: MediaKey
}

/**
 * Whether `a` joined the room before `b`: the earlier `joinedAt`, then the lower peer id. Both
 * sides read the same two values from the hellos, so they agree whatever their clocks say.
 */
export function joinedBefore (a: { peerId: string, joinedAt: number }, b: { peerId: string, joinedAt: number }): boolean {
  return a.joinedAt < b.joinedAt || (a.joinedAt === b.joinedAt && a.peerId < b.peerId)
}

/** What a page's RTCPeerConnection sends through the node: an SDP or an ICE candidate (null: end of candidates). */
export type SignalData =
  | { sdp: { type: 'offer' | 'answer', sdp: string } }
  | { candidate: RTCIceCandidateInit | null }

export interface CallSignalParams { callId: string, to: string, sid: string, data: SignalData }
export interface CallForwarderSignalParams { callId: string, forwarder: string, data: SignalData }
export interface CallSealParams { callId: string, text: string }
export interface CallSealResult { sealed: string, message: ChatMessage }
export interface CallOpenParams { callId: string, from: string, sealed: string }
export interface CallStatsParams {
  callId: string
  /** Bytes the page received on its connection to each forwarder since joining (RTCPeerConnection stats), by forwarder peer id. */
  forwarderBytes: Record<string, number>
  /** Peers whose connection failed or closed, so the node can react (failover, reputation). */
  failed?: string[]
}
export interface CallLeaveParams { callId: string }
export interface CallMediaParams { callId: string, media: MediaFlags }

/** Node → page, pushed as `{ t: 'event', id: <request id of the join>, event }`. */
export type CallEvent =
  | { type: 'joined', participant: ParticipantInfo }
  | { type: 'updated', participant: ParticipantInfo }
  | { type: 'left', peerId: string, reason: 'bye' | 'timeout' | 'removed' }
  | { type: 'signal', from: string, sid: string, data: SignalData }
  | { type: 'media-key', peerId: string, key: MediaKey }
  | { type: 'own-key', key: MediaKey, switchAt: number }
  | { type: 'topology', topology: CallTopology, forwarder: string | null }
  | { type: 'forwarder-signal', forwarder: string, data: SignalData }
  /** Which of the forwarder connection's transceivers (by mid) carries whose media. */
  | { type: 'tracks', forwarder: string, mids: Record<string, string> }
  | { type: 'message', message: ChatMessage }
  | { type: 'state', state: CallState, reason?: string, code?: number }
