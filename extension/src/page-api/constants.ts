/** Tunables of the page API (`window.peerloom`) in the extension. */

/**
 * Largest chunk of a published file a page may send in one message.
 * @default 4 MiB
 */
export const MAX_DATA_CHUNK_BYTES = 4 * 1024 * 1024

/**
 * Largest credit grant in one message.
 * @default 64
 */
export const MAX_CREDIT = 64

/**
 * Size of the file slices a page sends when publishing.
 * @default 1 MiB
 */
export const PUBLISH_SLICE_BYTES = 1024 * 1024

/**
 * A stream whose receiver grants no credit for this long is cancelled (the page went away).
 * @default 60_000
 */
export const STREAM_IDLE_TIMEOUT_MS = 60_000

/**
 * Requests one origin may make per second, and the burst it may spend at once.
 * @default 50 / 200
 */
export const ORIGIN_CALLS_PER_SECOND = 50
export const ORIGIN_CALL_BURST = 200

/**
 * Requests in progress at once on one page's port.
 * @default 64
 */
export const MAX_ACTIVE_PER_PORT = 64

/**
 * How long the consent prompt waits for an answer before counting as a refusal.
 * @default 300_000
 */
export const CONSENT_PROMPT_TIMEOUT_MS = 5 * 60_000

/**
 * How long a player session (the token in the player frame's URL) stays valid without use.
 * @default 6 h
 */
export const PLAYER_SESSION_TTL_MS = 6 * 60 * 60_000

/**
 * Cache-timing guard: the first byte of content an origin has not fetched before, when it
 * comes from the cache, is held back to at least the node's recent network first-byte time,
 * and further cached bytes are paced to its recent network rate (see README, Privacy).
 * Defaults until the node has measured its own network: 300 ms and 24 MB/s.
 */
export const DEFAULT_COLD_FIRST_BYTE_MS = 300
export const DEFAULT_NETWORK_BYTES_PER_SEC = 24 * 1000 * 1000
/** Network samples kept for the medians. @default 16 */
export const TIMING_SAMPLES = 16

/** How long the page waits for the bridge to reach the node. @default 15_000 */
export const BRIDGE_TIMEOUT_MS = 15_000

/** Path prefix of player streams, answered by the service worker's fetch handler. */
export const STREAM_PATH = '/stream/'

/**
 * After a Deny, `connect()` refuses at once (4001, no prompt) for this long, so a page cannot
 * open prompt after prompt; then it may ask again. Each further Deny in a row waits longer.
 * Forgetting the site in Options ends the wait.
 * @default 10 min, then 1 h, then 24 h
 */
export const DENIAL_QUIET_MS = [10 * 60_000, 60 * 60_000, 24 * 60 * 60_000] as const

/**
 * Prompts closed unanswered this many times in a row make the origin wait
 * DISMISSAL_QUIET_MS before it may open another (kept in memory only).
 * @default 3 / 10 min
 */
export const DISMISSALS_BEFORE_QUIET = 3
export const DISMISSAL_QUIET_MS = 10 * 60_000

/** Rows `contentStats()` returns at most (the most recent). @default 500 */
export const MAX_CONTENT_STATS = 500
