/** Tunables of the relay and the origin that are not operator configuration. */

/** How long SIGTERM may take before the process exits anyway. @default 9_000 */
export const DEFAULT_SHUTDOWN_GRACE_MS = 9_000

/** How long one delegated-routing lookup may run. @default 10_000 */
export const DEFAULT_ROUTING_TIMEOUT_MS = 10_000

/** Most providers one /routing/v1/providers answer lists (the routing client's cap too). @default 100 */
export const MAX_PROVIDERS_PER_ANSWER = 100

/** How long a gateway request may take to read the blocks it serves. @default 30_000 */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 30_000

/** Largest upload (one CAR) the origin accepts in one request. @default 64 GiB */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024 * 1024

/** Longest URL the HTTP server reads before answering 414. @default 2_048 */
export const MAX_URL_LENGTH = 2_048

/** First retry delay when a bootstrap peer is unreachable; doubles up to the maximum. @default 1_000 */
export const BOOTSTRAP_RETRY_MS = 1_000
/** @default 60_000 */
export const BOOTSTRAP_RETRY_MAX_MS = 60_000

/** Deadline for one bootstrap dial. @default 10_000 */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000

/** Deadline for providing one CID in the DHT. @default 30_000 */
export const PROVIDE_TIMEOUT_MS = 30_000

/**
 * How often libp2p's connection monitor pings each connection. A relay holds thousands of
 * idle connections; libp2p's 10 s default costs a fifth of a core at 500 of them.
 * @default 60_000
 */
export const CONNECTION_PING_INTERVAL_MS = 60_000

/**
 * The least time a connection has to answer the monitor's ping before the relay drops it.
 * libp2p's 5 s floor dropped busy browsers: an offscreen document encoding a call answers
 * seconds late, and each drop costs the browser its reservation and its room gossip.
 * @default 20_000
 */
export const CONNECTION_PING_TIMEOUT_MIN_MS = 20_000

/** Files inside a relay's data directory. */
export const DATA_FILES = {
  /** The libp2p private key (protobuf), created on first start, mode 0600. */
  identity: 'identity.key',
  /** DHT provider records (LevelDB); the peer store is in memory. */
  datastore: 'datastore',
  /** Origin blocks, one file per block. */
  blocks: 'blocks',
  /** Published content the origin announces: one JSON file per manifest CID. */
  published: 'published',
  /** Bearer token for uploads into a running origin, mode 0600. */
  uploadToken: 'upload-token',
  /** Written while an origin runs: `{ pid, http }`, so `peerloom publish --data` finds it. */
  running: 'origin.json',
  /** Bytes the origin served, per content id (the origin's half of the offload report). */
  served: 'served.json'
} as const

/** Largest gossipsub message (its `data`) a relay passes on (docs/CALLS.md). @default 64 KiB */
export const MAX_PUBSUB_MESSAGE_BYTES = 64 * 1024

/**
 * Room topics one browser's subscriptions make the relay carry: four calls on a page (CALLS.md,
 * 5021) in a few tabs. Beyond it, its further rooms are not carried for it. @default 16
 */
export const MAX_ROOMS_PER_PEER = 16

/** Room topics a browser may be subscribed to at the relay at all; further subscriptions are dropped. @default 64 */
export const MAX_SUBSCRIPTIONS_PER_PEER = 64

/** How long a peer's first gossipsub RPCs wait for identify to say whether it is a relay. @default 5_000 */
export const IDENTIFY_WAIT_MS = 5_000

/** A message and byte rate, as token buckets. */
export interface PubsubRate {
  messagesPerSecond: number
  messageBurst: number
  bytesPerSecond: number
  byteBurst: number
}

/**
 * What one browser may send the relay, before signatures are checked. A join in a full mesh
 * sends an offer, an answer, a few ICE candidates and a media key to each member at once,
 * a few hundred small messages; SDP is a few KiB.
 */
export const PUBSUB_PEER_RATE: PubsubRate = { messagesPerSecond: 100, messageBurst: 500, bytesPerSecond: 512 * 1024, byteBurst: 2 * 1024 * 1024 }

/** What another relay may send: it carries many browsers' traffic. */
export const PUBSUB_RELAY_PEER_RATE: PubsubRate = { messagesPerSecond: 5_000, messageBurst: 20_000, bytesPerSecond: 32 * 1024 * 1024, byteBurst: 64 * 1024 * 1024 }

/** What one author (the signer, wherever it is) may publish, checked after the signature. */
export const PUBSUB_AUTHOR_RATE: PubsubRate = { messagesPerSecond: 50, messageBurst: 400, bytesPerSecond: 256 * 1024, byteBurst: 1024 * 1024 }

/**
 * How a peer's misbehaviour penalty decays, per second. Each rejected message adds 1 (a rate
 * excess 0.5) and gossipsub weighs it by 10 against its graylist threshold of -80, so about
 * 8 bad messages in a row make the relay ignore a browser for half a minute. @default 0.9
 */
export const PUBSUB_PENALTY_DECAY = 0.9

/** How often the relay re-checks which rooms it carries and decays penalties. @default 5_000 */
export const PUBSUB_RECONCILE_MS = 5_000

/** How often a relay dials the relays it knows of but is not connected to. @default 15_000 */
export const RELAY_PEERING_INTERVAL_MS = 15_000

/** Longest wait between dials of a relay that did not answer. @default 600_000 */
export const RELAY_PEERING_MAX_BACKOFF_MS = 600_000

/** How often the key service re-checks the balances of a gated room's holders. @default 30_000 */
export const DEFAULT_HOLDER_CHECK_MS = 30_000

/** Rooms a relay carries at once. @default 10_000 */
export const DEFAULT_MAX_ROOMS = 10_000
