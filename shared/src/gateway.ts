/**
 * Blocks from Trustless Gateways (`GET /ipfs/{cid}?format=raw`), each verified against its
 * CID before use. The extension's origin fallback, the SDK's no-extension path and anything
 * else that wants origin blocks fetch them through `fetchGatewayBlock`.
 *
 * @example
 * ```ts
 * const bytes = await fetchGatewayBlock(cid, { gateways: ['http://127.0.0.1:8080'], signal })
 * const blocks = new GatewayBlocks({ gateways: ['http://127.0.0.1:8080'] }) // a blockstore-style `get`
 * ```
 */
import { CID } from 'multiformats/cid'
import { IntegrityError, NotFoundError, TimeoutError } from './errors.ts'
import { MAX_BLOCK_BYTES, verifyBlock } from './block.ts'

/** How long one block request may take. @default 10_000 */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 10_000

export interface GatewayFetchOptions {
  /** Gateway base URLs, tried in order. */
  gateways: readonly string[]
  /** @default DEFAULT_GATEWAY_TIMEOUT_MS */
  timeoutMs?: number
  signal?: AbortSignal
  fetch?: typeof globalThis.fetch
}

/**
 * Fetches one block from the first gateway that has it, trying each in turn; the bytes are
 * at most MAX_BLOCK_BYTES and verified against `cid`. A gateway that lies is skipped like one
 * that lacks the block. Throws IntegrityError when one lied and none delivered, TimeoutError
 * when none answered in time, NotFoundError otherwise, and the signal's reason when aborted.
 */
export async function fetchGatewayBlock (cid: CID, options: GatewayFetchOptions): Promise<Uint8Array> {
  if (options.gateways.length === 0) throw new NotFoundError('no origin gateway is configured')
  const timeoutMs = options.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis)
  const failures: string[] = []
  let lied = false
  for (const base of options.gateways) {
    const gateway = base.replace(/\/+$/, '')
    const signal = options.signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
    let response: Response
    try {
      response = await fetchFn(`${gateway}/ipfs/${cid.toString()}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw' }, signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      failures.push(`${gateway}: ${(err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err as Error).message}`)
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
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await response.arrayBuffer())
    } catch (err) {
      options.signal?.throwIfAborted()
      failures.push(`${gateway}: ${(err as Error).message}`)
      continue
    }
    try {
      if (bytes.length > MAX_BLOCK_BYTES) throw new IntegrityError(`sent a ${bytes.length}-byte block (at most ${MAX_BLOCK_BYTES})`)
      await verifyBlock(cid, bytes)
    } catch (err) {
      // the bytes are never used
      lied = true
      failures.push(`${gateway}: ${(err as Error).message}`)
      continue
    }
    return bytes
  }
  const message = `block ${cid.toString()} is not available from any gateway (${failures.join('; ')})`
  if (lied) throw new IntegrityError(message)
  const timedOut = failures.every(f => f.includes('no answer'))
  throw timedOut ? new TimeoutError(message) : new NotFoundError(message)
}

export interface GatewayBlocksInit {
  /** Gateway base URLs, tried in order. */
  gateways: string[]
  timeoutMs?: number
  fetch?: typeof globalThis.fetch
  /** Called with the size of every verified block (for transfer statistics). */
  onBlock?: (cid: CID, bytes: number) => void
}

/** A read-only block source over Trustless Gateways, usable wherever a blockstore `get` is. */
export class GatewayBlocks {
  private readonly init: GatewayBlocksInit

  constructor (init: GatewayBlocksInit) {
    if (init.gateways.length === 0) throw new NotFoundError('no gateway configured')
    this.init = init
  }

  /** Fetches one block, trying each gateway in turn; the bytes are verified against `cid`. */
  async fetchBlock (cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const bytes = await fetchGatewayBlock(cid, {
      gateways: this.init.gateways,
      ...(this.init.timeoutMs === undefined ? {} : { timeoutMs: this.init.timeoutMs }),
      ...(this.init.fetch === undefined ? {} : { fetch: this.init.fetch }),
      ...(options?.signal === undefined ? {} : { signal: options.signal })
    })
    this.init.onBlock?.(cid, bytes.length)
    return bytes
  }

  /** Blockstore-style `get` (interface-blockstore 6 yields the block's bytes). */
  async * get (cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
    yield await this.fetchBlock(CID.asCID(cid) ?? cid, options)
  }
}
