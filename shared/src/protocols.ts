/** libp2p protocol ids spoken between Peerloom nodes. */

/** Cumulative EIP-712 receipts from a client to the server that delivered bytes. */
export const RECEIPTS_PROTOCOL = '/peerloom/receipts/1.0.0'
/** Blocks by CID between browsers, on direct connections only (extension README, "The block protocol"). */
export const BLOCK_PROTOCOL = '/peerloom/block/1.0.0'
