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

/** Files inside a relay's data directory. */
export const DATA_FILES = {
  /** The libp2p private key (protobuf), created on first start, mode 0600. */
  identity: 'identity.key',
  /** Peer store and DHT provider records (LevelDB). */
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
