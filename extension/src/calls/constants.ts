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

/** Joining waits at most this long for a gated room's key. @default 20_000 */
export const JOIN_KEY_TIMEOUT_MS = 20_000

/** Peers heard on a room topic whose presence is tracked, admitted or not (bounds memory against a flood of identities). @default 128 */
export const MAX_TRACKED_PEERS = 128
