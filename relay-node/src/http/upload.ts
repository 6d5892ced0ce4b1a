/**
 * Publishing into a running origin, for `peerloom publish --origin URL` (or `--data DIR` when
 * an origin runs on DIR). Both routes need `Authorization: Bearer <upload token>`.
 *
 * - `PUT /api/v1/blocks`: a CARv1 stream (roots may be empty). Every block is hashed and
 *   checked against its CID before it is stored. Answers `{ blocks, bytes }`.
 * - `POST /api/v1/publish/{manifest-cid}`: checks that the manifest verifies (signature
 *   included) and that its whole ciphertext DAG is stored, records it, announces the manifest
 *   and root CIDs in the DHT. Answers the published record.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { CarBlockIterator } from '@ipld/car/iterator'
import { InvalidParamsError, MAX_BLOCK_BYTES, UnauthorizedError, isPeerloomError } from '@peerloom/shared'
import { MAX_UPLOAD_BYTES } from '../constants.ts'
import type { RelayNode } from '../relay.ts'
import { parseCid } from '../origin/blocks.ts'
import type { OriginStore } from '../origin/store.ts'
import { tokenMatches } from '../origin/token.ts'
import { sendJson } from './respond.ts'

export interface UploadInit {
  relay: RelayNode
  store: OriginStore
  token: string
}

/** Counts request bytes and stops at `max`. */
async function * limited (source: AsyncIterable<Uint8Array>, max: number, onBytes: (total: number) => void): AsyncGenerator<Uint8Array> {
  let total = 0
  for await (const chunk of source) {
    total += chunk.length
    if (total > max) throw new InvalidParamsError(`upload is larger than ${max} bytes`)
    onBytes(total)
    yield chunk
  }
}

export class UploadApi {
  private readonly relay: RelayNode
  private readonly store: OriginStore
  private readonly token: string

  constructor (init: UploadInit) {
    this.relay = init.relay
    this.store = init.store
    this.token = init.token
  }

  private authorize (req: IncomingMessage): void {
    const header = req.headers.authorization
    const presented = header?.startsWith('Bearer ') === true ? header.slice(7).trim() : undefined
    if (!tokenMatches(presented, this.token)) throw new UnauthorizedError('uploads need "Authorization: Bearer <token>" with the token from the origin\'s data directory (upload-token)')
  }

  /** PUT /api/v1/blocks */
  async blocks (req: IncomingMessage, res: ServerResponse): Promise<number> {
    this.authorize(req)
    let bytes = 0
    let blocks = 0
    let iterator: CarBlockIterator
    try {
      iterator = await CarBlockIterator.fromIterable(limited(req, MAX_UPLOAD_BYTES, total => { bytes = total }))
    } catch (err) {
      throw new InvalidParamsError(`the body is not a CARv1 stream: ${(err as Error).message}`, { cause: err })
    }
    try {
      for await (const block of iterator) {
        // the limit every reader applies: a larger block could be stored but never fetched
        if (block.bytes.length > MAX_BLOCK_BYTES) throw new InvalidParamsError(`block ${block.cid.toString()} is ${block.bytes.length} bytes; at most ${MAX_BLOCK_BYTES} are accepted`)
        await this.store.putVerified(block.cid, block.bytes)
        this.relay.metrics.blocksStored.inc()
        blocks++
      }
    } catch (err) {
      if (isPeerloomError(err)) throw err
      throw new InvalidParamsError(`the CAR stream broke off after ${blocks} blocks: ${(err as Error).message}`, { cause: err })
    }
    sendJson(res, 200, { blocks, bytes })
    return 200
  }

  /** POST /api/v1/publish/{manifest-cid} */
  async publish (req: IncomingMessage, res: ServerResponse, cidText: string): Promise<number> {
    this.authorize(req)
    const record = await this.store.commit(parseCid(cidText))
    await this.relay.served?.index(record)
    this.relay.notePublished()
    let announced = true
    try {
      await this.relay.provide([parseCid(record.manifest), parseCid(record.root)])
    } catch {
      announced = false // recorded anyway: the origin announces it again at its next start
    }
    sendJson(res, 200, { ...record, announced })
    return 200
  }
}
