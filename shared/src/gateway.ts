/**
 * Blocks from Trustless Gateways (`GET /ipfs/{cid}?format=raw`), each verified against its
 * CID before use. The SDK's no-extension fallback reads content through this; anything that
 * wants origin blocks without a libp2p node can too.
 *
 * @example
 * ```ts
 * const blocks = new GatewayBlocks({ gateways: ['http://127.0.0.1:8080'] })
 * const bytes = await blocks.fetchBlock(cid)
 * ```
 */
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'
import { IntegrityError, NotFoundError, TimeoutError } from './errors.ts'

/** How long one block request may take. @default 10_000 */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 10_000
/** Largest block accepted from a gateway (bitswap's limit). @default 2 MiB */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024

export interface GatewayBlocksInit {
  /** Gateway base URLs, tried in order. */
  gateways: string[]
  timeoutMs?: number
  fetch?: typeof globalThis.fetch
  /** Called with the size of every verified block (for transfer statistics). */
  onBlock?: (cid: CID, bytes: number) => void
}

/** Verifies that `bytes` hash to `cid` (sha2-256 only, as Peerloom content uses). */
export async function verifyBlock (cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.multihash.code !== sha256.code) throw new IntegrityError(`block ${cid.toString()} uses an unsupported hash (0x${cid.multihash.code.toString(16)})`)
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) throw new IntegrityError(`block ${cid.toString()} does not match its CID`)
}

/** A read-only block source over Trustless Gateways, usable wherever a blockstore `get` is. */
export class GatewayBlocks {
  private readonly gateways: string[]
  private readonly timeoutMs: number
  private readonly fetchFn: typeof globalThis.fetch
  private readonly onBlock?: (cid: CID, bytes: number) => void

  constructor (init: GatewayBlocksInit) {
    if (init.gateways.length === 0) throw new NotFoundError('no gateway configured')
    this.gateways = init.gateways.map(url => url.replace(/\/+$/, ''))
    this.timeoutMs = init.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS
    this.fetchFn = init.fetch ?? globalThis.fetch.bind(globalThis)
    if (init.onBlock !== undefined) this.onBlock = init.onBlock
  }

  /** Fetches one block, trying each gateway in turn; the bytes are verified against `cid`. */
  async fetchBlock (cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const failures: string[] = []
    let lied = false
    for (const gateway of this.gateways) {
      const signal = options?.signal === undefined ? AbortSignal.timeout(this.timeoutMs) : AbortSignal.any([options.signal, AbortSignal.timeout(this.timeoutMs)])
      let response: Response
      try {
        response = await this.fetchFn(`${gateway}/ipfs/${cid.toString()}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw' }, signal })
      } catch (err) {
        options?.signal?.throwIfAborted()
        failures.push(`${gateway}: ${(err as Error).name === 'TimeoutError' ? `no answer in ${this.timeoutMs} ms` : (err as Error).message}`)
        continue
      }
      if (!response.ok) {
        failures.push(`${gateway}: HTTP ${response.status}`)
        await response.body?.cancel()
        continue
      }
      const declared = Number(response.headers.get('content-length') ?? '0')
      if (declared > MAX_BLOCK_BYTES) {
        await response.body?.cancel()
        lied = true
        failures.push(`${gateway}: offered a ${declared}-byte block (at most ${MAX_BLOCK_BYTES})`)
        continue
      }
      const bytes = new Uint8Array(await response.arrayBuffer())
      try {
        if (bytes.length > MAX_BLOCK_BYTES) throw new IntegrityError(`sent a ${bytes.length}-byte block (at most ${MAX_BLOCK_BYTES})`)
        await verifyBlock(cid, bytes)
      } catch (err) {
        // a gateway that lies is skipped like one that lacks the block; the bytes are never used
        lied = true
        failures.push(`${gateway}: ${(err as Error).message}`)
        continue
      }
      this.onBlock?.(cid, bytes.length)
      return bytes
    }
    const message = `block ${cid.toString()} is not available from any gateway (${failures.join('; ')})`
    if (lied) throw new IntegrityError(message)
    const timedOut = failures.length > 0 && failures.every(f => f.includes('no answer'))
    throw timedOut ? new TimeoutError(message) : new NotFoundError(message)
  }

  /** Blockstore-style `get` (interface-blockstore 6 yields the block's bytes). */
  async * get (cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
    yield await this.fetchBlock(CID.asCID(cid) ?? cid, options)
  }
}
