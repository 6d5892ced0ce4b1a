/** Tunables of the extension's node. Settings a donor edits live in `@peerloom/shared` (NODE_DEFAULTS). */

// The block protocol's id and the largest block are `BLOCK_PROTOCOL` and `MAX_BLOCK_BYTES` in @peerloom/shared.

/**
 * Largest message the node sends on a WebRTC data channel (a libp2p frame with its protobuf
 * header). libp2p's default of 16 KiB cuts a 256 KiB block into 17 messages; Chromium accepts
 * messages up to the SCTP `max-message-size` it offers, 256 KiB, and every libp2p peer
 * reassembles frames of any size up to 4 MiB, so fewer, larger messages interoperate and cost
 * less per byte on both ends. The margin covers the protobuf header libp2p adds.
 * @default 256 KiB - 64
 */
export const DATA_CHANNEL_MESSAGE_BYTES = 256 * 1024 - 64

/**
 * Time a peer gets to answer one block request before it counts as stalled.
 * @default 8_000
 */
export const BLOCK_REQUEST_TIMEOUT_MS = 8_000

/**
 * Block requests kept in flight to one peer (each on its own stream, i.e. its own data channel).
 * @default 16
 */
export const PER_PEER_INFLIGHT = 16

/**
 * Failures (errors, stalls, refusals) after which a peer is no longer asked for a content's blocks.
 * @default 2
 */
export const PEER_FAILURE_LIMIT = 2

/**
 * Chunks a range read fetches ahead of the one it is opening.
 * @default 24
 */
export const RANGE_READ_AHEAD = 24

/**
 * Chunks a range read asks for until the first one is opened; then it keeps RANGE_READ_AHEAD
 * in flight. Asking for all 24 at once would have the first chunk share a fresh connection with
 * 23 others and arrive last among them.
 * @default 2
 */
export const RANGE_READ_AHEAD_INITIAL = 2

/**
 * How long a provider lookup through the relays may take.
 * @default 4_000
 */
export const PROVIDER_LOOKUP_TIMEOUT_MS = 4_000

/**
 * Extra time peers get, beyond the hedge delay, before the origin is asked while a provider
 * that was found is still being dialled (a cold WebRTC dial through a relay took ~0.8 s on
 * loopback). Providers that do not exist cost nothing: an empty lookup goes to the origin at once.
 * @default 1_200
 */
export const PROVIDER_DIAL_GRACE_MS = 1_200

/**
 * Past the dial grace, while found providers are still being dialled, the origin serves only the
 * blocks the reader waits on first (this many; read-ahead waits for the peers), for at most
 * `ORIGIN_HEAD_ONLY_MS`. A slow dial then costs the origin a few blocks, not the whole transfer.
 * @default 2 / 4_000
 */
export const ORIGIN_HEAD_BLOCKS_WHILE_DIALING = 2
export const ORIGIN_HEAD_ONLY_MS = 4_000
/**
 * Time a block request may spend opening its stream (a data channel and a protocol negotiation
 * on a fresh connection) before the per-block hedge delay starts counting anyway.
 * @default 1_000
 */
export const STREAM_OPEN_ALLOWANCE_MS = 1_000
/**
 * How long a dial to a provider (WebRTC through a relay) may take.
 * @default 10_000
 */
export const PROVIDER_DIAL_TIMEOUT_MS = 10_000

/**
 * libp2p's own cap on each address of a dial (its default is 6 s), here as long as our longest
 * per-address budgets (PROVIDER_DIAL_TIMEOUT_MS, the forwarder's FORWARDER_DIRECT_DIAL_MS) so
 * that those decide: a WebRTC dial through a relay, or a relayed dial, can take longer than 6 s
 * when the browsers on either end are short of CPU.
 * @default 10_000
 */
export const ADDRESS_DIAL_TIMEOUT_MS = 10_000

/**
 * Attempts to connect to a provider, and the wait before the second (doubling after).
 * @default 3 / 300
 */
export const PROVIDER_DIAL_ATTEMPTS = 3
export const PROVIDER_DIAL_BACKOFF_MS = 300

/**
 * How long one origin gateway request may take.
 * @default 20_000
 */
export const ORIGIN_REQUEST_TIMEOUT_MS = 20_000

/**
 * How long a relay dial may take.
 * @default 8_000
 */
export const RELAY_DIAL_TIMEOUT_MS = 8_000

/**
 * First and longest wait between reconnection attempts to a relay (doubling in between).
 * @default 1_000 / 30_000
 */
export const RELAY_BACKOFF_MIN_MS = 1_000
export const RELAY_BACKOFF_MAX_MS = 30_000

/**
 * How often the relay keeper checks connections and reservations.
 * @default 1_000
 */
export const RELAY_CHECK_INTERVAL_MS = 1_000

/**
 * How often cached content is announced again while donating.
 * @default 300_000
 */
export const ANNOUNCE_INTERVAL_MS = 5 * 60_000

/**
 * How often the meter and the cache's access times are written to IndexedDB.
 * @default 5_000
 */
export const PERSIST_INTERVAL_MS = 5_000

/**
 * Width of one bucket of the transfer history chart, and how many buckets are kept (1 h).
 * @default 10_000 / 360
 */
export const HISTORY_BUCKET_MS = 10_000
export const HISTORY_BUCKETS = 360

/**
 * How often the service worker checks that the node's document exists (chrome.alarms minimum).
 * @default 0.5 (minutes)
 */
export const KEEPALIVE_ALARM_MINUTES = 0.5
