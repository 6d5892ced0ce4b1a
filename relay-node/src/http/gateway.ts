/**
 * The Trustless Gateway subset an origin serves (https://specs.ipfs.tech/http-gateways/trustless-gateway/):
 * `GET|HEAD /ipfs/{cid}?format=raw` (one block, application/vnd.ipld.raw) and
 * `?format=car` (the DAG under the CID, depth-first, application/vnd.ipld.car; `dag-scope=block`
 * for the root block alone). Only blocks the origin holds are served; nothing is fetched on demand.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { CarWriter } from '@ipld/car/writer'
import type { CID } from 'multiformats/cid'
import { InvalidParamsError, NotFoundError } from '@peerloom/shared'
import { DEFAULT_GATEWAY_TIMEOUT_MS } from '../constants.ts'
import type { RelayMetrics } from '../metrics.ts'
import { parseCid } from '../origin/blocks.ts'
import type { OriginStore } from '../origin/store.ts'
import { CORS_HEADERS, accepts } from './respond.ts'

const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'
/** Content-addressed answers never change. */
const IMMUTABLE = 'public, max-age=29030400, immutable'

export interface GatewayInit {
  store: OriginStore
  metrics: RelayMetrics
  /** Called for every block sent (not for HEAD), e.g. to count it per content. */
  onServed?: (cid: CID, bytes: number) => void
  /** @default DEFAULT_GATEWAY_TIMEOUT_MS */
  timeoutMs?: number
}

/** Which response the request asks for: `?format=` wins over Accept, as the spec says. */
function formatOf (req: IncomingMessage, query: URLSearchParams): 'raw' | 'car' {
  const format = query.get('format')
  if (format === 'raw' || format === 'car') return format
  if (format !== null) throw new InvalidParamsError(`format "${format.slice(0, 20)}" is not served; use format=raw or format=car`)
  if (accepts(req, RAW)) return 'raw'
  if (accepts(req, CAR)) return 'car'
  throw new InvalidParamsError('this is a trustless gateway: ask for ?format=raw or ?format=car (or Accept: application/vnd.ipld.raw or application/vnd.ipld.car)')
}

export class Gateway {
  private readonly store: OriginStore
  private readonly metrics: RelayMetrics
  private readonly timeoutMs: number
  private readonly onServed: (cid: CID, bytes: number) => void

  constructor (init: GatewayInit) {
    this.store = init.store
    this.metrics = init.metrics
    this.onServed = init.onServed ?? (() => {})
    this.timeoutMs = init.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS
  }

  /** Serves `/ipfs/{rest}`; returns the status sent. */
  async serve (req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams): Promise<number> {
    const slash = rest.indexOf('/')
    if (slash !== -1 && slash !== rest.length - 1) throw new InvalidParamsError('paths inside a DAG are not served; request the CID itself')
    const cid = parseCid(slash === -1 ? rest : rest.slice(0, slash))
    const format = formatOf(req, query)
    const scope = query.get('dag-scope') ?? 'all'
    if (scope !== 'all' && scope !== 'block') throw new InvalidParamsError(`dag-scope "${scope.slice(0, 20)}" is not served; use all or block`)
    if (!await this.store.has(cid)) throw new NotFoundError(`block ${cid.toString()} is not held by this origin`)
    return format === 'raw' ? await this.raw(req, res, cid) : await this.car(req, res, cid, scope === 'block')
  }

  private async raw (req: IncomingMessage, res: ServerResponse, cid: CID): Promise<number> {
    const bytes = await this.store.get(cid, { signal: AbortSignal.timeout(this.timeoutMs) })
    res.writeHead(200, {
      ...CORS_HEADERS,
      'content-type': RAW,
      'content-length': bytes.length,
      'content-disposition': `attachment; filename="${cid.toString()}.bin"`,
      'cache-control': IMMUTABLE,
      etag: `"${cid.toString()}.raw"`,
      'x-content-type-options': 'nosniff',
      'x-ipfs-roots': cid.toString(),
      vary: 'Accept'
    })
    if (req.method === 'HEAD') {
      res.end()
      return 200
    }
    res.end(bytes)
    this.counted(cid, bytes.length)
    return 200
  }

  private async car (req: IncomingMessage, res: ServerResponse, root: CID, blockOnly: boolean): Promise<number> {
    res.writeHead(200, {
      ...CORS_HEADERS,
      'content-type': `${CAR}; version=1; order=dfs; dups=n`,
      'content-disposition': `attachment; filename="${root.toString()}.car"`,
      'cache-control': IMMUTABLE,
      etag: `"${root.toString()}.car${blockOnly ? '.block' : ''}"`,
      'x-content-type-options': 'nosniff',
      'x-ipfs-roots': root.toString(),
      vary: 'Accept'
    })
    if (req.method === 'HEAD') {
      res.end()
      return 200
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), abortOnClose(res)])
    const { writer, out } = CarWriter.create([root])
    const pump = (async () => {
      for await (const chunk of out) {
        if (!res.write(chunk)) await new Promise<void>(resolve => res.once('drain', resolve))
      }
    })()
    try {
      const seen = new Set<string>()
      const blocks = blockOnly ? [{ cid: root, bytes: await this.store.get(root, { signal }) }] : this.store.walk(root, { signal })
      for await (const block of blocks) {
        const key = block.cid.toString()
        if (seen.has(key)) continue
        seen.add(key)
        await writer.put(block)
        this.counted(block.cid, block.bytes.length)
      }
      await writer.close()
      await pump
      res.end()
    } catch (err) {
      // headers are out: the only honest signal left is a truncated body
      res.destroy(err as Error)
      await writer.close().catch(() => {})
      await pump.catch(() => {})
    }
    return 200
  }

  private counted (cid: CID, bytes: number): void {
    this.metrics.blocksServed.inc()
    this.metrics.bytesServed.inc(bytes)
    this.onServed(cid, bytes)
  }
}

function abortOnClose (res: ServerResponse): AbortSignal {
  const controller = new AbortController()
  res.once('close', () => { if (!res.writableFinished) controller.abort(new Error('client went away')) })
  return controller.signal
}
