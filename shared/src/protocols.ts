/** libp2p protocol ids spoken between Peerloom nodes. */

/** Cumulative EIP-712 receipts from a client to the server that delivered bytes. */
export const RECEIPTS_PROTOCOL = '/peerloom/receipts/1.0.0'
/** Blocks by CID between browsers, on direct connections only (extension README, "The block protocol"). */
export const BLOCK_PROTOCOL = '/peerloom/block/1.0.0'

/** Calls (docs/CALLS.md): a participant's node ↔ a forwarder, and forwarder ↔ forwarder (cascade). */
export const FORWARD_PROTOCOL = '/peerloom/forward/1.0.0'
/** Gossipsub topic of one room: this prefix + the room id's 64 hex digits. */
export const ROOM_TOPIC_PREFIX = '/peerloom/room/1/'
/** Gossipsub topic forwarders announce themselves on. */
export const FORWARDERS_TOPIC = '/peerloom/forwarders/1'
