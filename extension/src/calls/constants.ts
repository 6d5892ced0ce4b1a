/**
 * Tunables of the node's side of calls. The protocol's own timings (presence, key switch,
 * chat history) are normative and live in `@peerloom/shared/calls/room`.
 */

/** Calls one page may have open at once. @default 4 */
export const MAX_CALLS_PER_PAGE = 4

/** Participants in one room, this browser included; a 33rd joiner is refused (5021). @default 32 */
export const MAX_ROOM_PARTICIPANTS = 32

/** A gated room's key is fetched again this often, so a holder who lost access is removed. @default 30_000 */
export const GATED_KEY_REFRESH_MS = 30_000

/** Rekey hints (notices, newer key versions) start at most one key fetch this often: a peer cannot make us flood the key service. @default 2_000 */
export const REKEY_MIN_INTERVAL_MS = 2_000

/** Members that leave within this window are answered with one media-key rotation, not one each. @default 100 */
export const ROTATE_COALESCE_MS = 100

/**
 * Hellos from a member after which its current media key is sent again: the first copy can
 * be lost while gossipsub is still grafting the joiner into the topic mesh.
 * @default 2
 */
export const KEY_SENDS_PER_MEMBER = 2

/**
 * A member whose hellos name a media key id we never got for this long asks it for its key
 * (`key-request`): both of its sends were lost, or came while it was not a member here, and
 * every frame it sends under that key is dropped until we have it. Longer than a presence
 * interval, so a key still on its way is not asked for. @default 3_000
 */
export const KEY_REQUEST_AFTER_MS = 3_000

/** One member's key requests, and our answers to one member's, are at least this far apart. @default 2_000 */
export const KEY_REQUEST_MIN_INTERVAL_MS = 2_000

/** Joining waits at most this long for a gated room's key. @default 20_000 */
export const JOIN_KEY_TIMEOUT_MS = 20_000

/** Peers heard on a room topic whose presence is tracked, admitted or not (bounds memory against a flood of identities). @default 128 */
export const MAX_TRACKED_PEERS = 128

/**
 * Largest room carried as a mesh, this browser included; above it each member's node attaches
 * to a forwarder (docs/CALLS.md, Forwarders). Each member of a mesh of n uploads n-1 copies of
 * its video, which is what the forwarder saves: bench:call on 2 cores found a mesh of 3 at
 * × 1.09 the plain pages' glass to glass, a mesh of 4 at × 1.71 with 3 × their frame loss.
 * @default 3
 */
export const MESH_MAX_PARTICIPANTS = 3

/** A forwarded room goes back to mesh only at this size or below (one less than the mesh limit: no flapping at the edge). @default 2 */
export const MESH_RETURN_PARTICIPANTS = MESH_MAX_PARTICIPANTS - 1

/** A forwarder unheard on the forwarders topic for this long is gone (3 announcements missed). @default 15_000 */
export const FORWARDER_STALE_MS = 15_000

/**
 * A member that is not the room's leader (the lowest peer id) waits this long after the room
 * went over the mesh limit for the leader's choice in its presence before choosing itself.
 * @default 6_000
 */
export const FORWARDER_LEADER_WAIT_MS = 6_000

/**
 * Dial, `attach` and `attached` take at most this. On the 2-core e2e machine with six browsers
 * 15 s timed out in the dial (calls-forwarded.spec.ts). @default 30_000
 */
export const FORWARDER_ATTACH_TIMEOUT_MS = 30_000

/** Of that, the attempt at a direct (WebRTC) connection once the relayed one is up; the leg stays relayed when it fails. @default 10_000 */
export const FORWARDER_DIRECT_DIAL_MS = 10_000

/** An RTT probe (libp2p ping, once connected) to a candidate forwarder gives up after this; a candidate not reached counts as this slow. @default 3_000 */
export const FORWARDER_PING_TIMEOUT_MS = 3_000

/** Candidates probed at once, least loaded first. @default 4 */
export const FORWARDER_PROBES = 4

/**
 * When a relayed connection to the forwarder of a direct leg closes, the forwarder must answer
 * a ping within this or the call fails over (a crashed browser's relay sees its connection drop
 * at once; a direct WebRTC connection stays silent for many seconds). @default 1_500
 */
export const FORWARDER_CHECK_TIMEOUT_MS = 1_500

/** A forwarder that failed this call is not picked again by it for this long. @default 60_000 */
export const FORWARDER_RETRY_MS = 60_000

/** A page's "failed" report for the forwarder is ignored this long after attaching (the page may still report the leg it had before). @default 6_000 */
export const FORWARDER_FAILED_GRACE_MS = 6_000

/** Reputation: score penalty (as ms of RTT) per recorded failure, halving every FORWARDER_PENALTY_HALF_LIFE_MS. @default 100 */
export const FORWARDER_FAILURE_PENALTY = 100
/** @default 600_000 */
export const FORWARDER_PENALTY_HALF_LIFE_MS = 600_000

/** A member on another forwarder than most of the room switches to theirs only after this long on its own. @default 10_000 */
export const FORWARDER_SWITCH_AFTER_MS = 10_000
