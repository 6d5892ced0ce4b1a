/** libp2p protocol ids spoken between Peerloom nodes. */

/** Cumulative EIP-712 receipts from a client to the server that delivered bytes. */
export const RECEIPTS_PROTOCOL = '/peerloom/receipts/1.0.0'
