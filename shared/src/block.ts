/**
 * What makes a block acceptable, wherever it comes from (a peer, a gateway, an upload): its
 * bytes hash to its CID and it is no larger than any block Peerloom content has.
 *
 * @example
 * ```ts
 * await verifyBlock(cid, bytes) // throws IntegrityError on a mismatch
 * ```
 */
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'
import { IntegrityError } from './errors.ts'

/**
 * Largest block accepted from a peer or a gateway: a sealed 1 MiB chunk (the largest chunk
 * size) is 1 MiB + 16 bytes, and every other block (manifest, UnixFS node) is far smaller.
 * @default 1 MiB + 1 KiB
 */
export const MAX_BLOCK_BYTES = 1024 * 1024 + 1024

/** Throws IntegrityError unless `bytes` hash to `cid` (sha2-256, the only hash Peerloom content uses). */
export async function verifyBlock (cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.multihash.code !== sha256.code) throw new IntegrityError(`block ${cid.toString()} uses hash 0x${cid.multihash.code.toString(16)}; only sha2-256 is accepted`)
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) throw new IntegrityError(`block ${cid.toString()} does not match its CID`)
}
