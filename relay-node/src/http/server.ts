/**
 * The relay's HTTP side: `/health`, `/metrics`, the Delegated Routing V1 API, and for an
 * origin the trustless gateway and the upload routes. One small router over node:http; every
 * answer carries CORS headers so the extension can fetch it, and every failure is JSON with
 * a code.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { ErrorCode, InvalidParamsError, NotFoundError, isPeerloomError } from '@peerloom/shared/errors'
import { MAX_URL_LENGTH } from '../constants.ts'
import type { RelayNode } from '../relay.ts'
import type { Gateway } from './gateway.ts'
import { CORS_HEADERS, HttpError, errorBody, sendError, sendJson } from './respond.ts'
import { RoutingApi } from './routing.ts'
import type { ReportApi } from './report.ts'
import type { UploadApi } from './upload.ts'

export interface HttpApiInit {
  relay: RelayNode
  /** The origin's routes (see origin-routes.ts); without them /ipfs and /api answer 501. */
  origin?: { gateway: Gateway, upload: UploadApi, report: ReportApi }
  log?: (line: string) => void
  /** The origin's key service (`POST /keys/v1`, relay-node/src/keys/). */
  keys?: { handle: (req: IncomingMessage, res: ServerResponse) => Promise<number> }
}

type Handler = (req: IncomingMessage, res: ServerResponse, param: string, query: URLSearchParams) => Promise<number>

interface Route {
  name: string
  method: 'GET' | 'PUT' | 'POST'
  prefix: string
  /** Whether everything after the prefix is the parameter (else the path must equal the prefix). */
  param: boolean
  handler: Handler
}

const BAD_REQUEST = JSON.stringify({ error: errorBody(new InvalidParamsError('malformed HTTP request')) }) + '\n'

export class HttpApi {
  private readonly relay: RelayNode
  private readonly routes: Route[]
  private readonly log: (line: string) => void
  private server?: Server
  private readonly sockets = new Set<Socket>()

  constructor (init: HttpApiInit) {
    this.relay = init.relay
    this.log = init.log ?? (() => {})
    const routing = new RoutingApi({ libp2p: init.relay.libp2p, relayedAddresses: peer => init.relay.relayedAddresses(peer) })
    const notOrigin = (what: string): Handler => async () => { throw new HttpError(501, ErrorCode.UNSUPPORTED_METHOD, `this relay is not an origin; start it with --origin to ${what}`) }
    const gateway = init.origin?.gateway
    const upload = init.origin?.upload
    const report = init.origin?.report
    this.routes = [
      { name: 'health', method: 'GET', prefix: '/health', param: false, handler: async (_req, res) => this.health(res) },
      { name: 'metrics', method: 'GET', prefix: '/metrics', param: false, handler: async (_req, res) => await this.metrics(res) },
      { name: 'providers', method: 'GET', prefix: '/routing/v1/providers/', param: true, handler: async (req, res, cid) => await routing.providers(req, res, cid) },
      { name: 'peers', method: 'GET', prefix: '/routing/v1/peers/', param: true, handler: async (req, res, id) => await routing.peers(req, res, id) },
      { name: 'gateway', method: 'GET', prefix: '/ipfs/', param: true, handler: gateway === undefined ? notOrigin('serve published content') : async (req, res, rest, query) => await gateway.serve(req, res, rest, query) },
      { name: 'upload', method: 'PUT', prefix: '/api/v1/blocks', param: false, handler: upload === undefined ? notOrigin('accept uploads') : async (req, res) => await upload.blocks(req, res) },
      { name: 'publish', method: 'POST', prefix: '/api/v1/publish/', param: true, handler: upload === undefined ? notOrigin('accept uploads') : async (req, res, cid) => await upload.publish(req, res, cid) },
      { name: 'report', method: 'GET', prefix: '/api/v1/report/', param: true, handler: report === undefined ? notOrigin('report on what it served') : async (req, res, id) => await report.report(req, res, id) },
      { name: 'keys', method: 'POST', prefix: '/keys/v1', param: false, handler: init.keys === undefined ? notOrigin('run a key service (with --rpc, --deployment and --publisher-key-file)') : async (req, res) => await (init.keys as NonNullable<HttpApiInit['keys']>).handle(req, res) }
    ]
  }

  /** Listens on `host:port` (port 0 picks one); resolves with the URL it serves. */
  async start (hostPort: string): Promise<string> {
    const colon = hostPort.lastIndexOf(':')
    const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '')
    const port = Number(hostPort.slice(colon + 1))
    const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => { void this.handle(req, res) })
    server.on('connection', socket => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    // a request Node cannot even parse gets a JSON 400, and the server keeps serving
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
        socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BAD_REQUEST)}\r\nconnection: close\r\n\r\n${BAD_REQUEST}`)
      } else {
        socket.destroy()
      }
      this.relay.metrics.httpRequests.inc({ route: 'malformed', status: '400' })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('the HTTP server has no TCP address')
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
    return `http://${shownHost}:${address.port}`
  }

  /** Stops accepting, lets requests in flight finish until `signal` aborts, then closes the rest. */
  async stop (signal?: AbortSignal): Promise<void> {
    const server = this.server
    if (server === undefined) return
    const closed = new Promise<void>(resolve => { server.close(() => { resolve() }) })
    server.closeIdleConnections()
    const force = (): void => { for (const socket of this.sockets) socket.destroy() }
    signal?.addEventListener('abort', force, { once: true })
    await closed
    signal?.removeEventListener('abort', force)
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint()
    let route = 'unknown'
    let status = 500
    try {
      const target = req.url ?? '/'
      if (target.length > MAX_URL_LENGTH) throw new HttpError(414, ErrorCode.INVALID_PARAMS, `the URL is longer than ${MAX_URL_LENGTH} characters`)
      let url: URL
      let path: string
      try {
        url = new URL(target, 'http://relay.invalid')
        path = decodeURIComponent(url.pathname)
      } catch (err) {
        throw new InvalidParamsError('the URL is malformed', { cause: err })
      }
      if (req.method === 'OPTIONS') {
        route = 'preflight'
        res.writeHead(204, CORS_HEADERS)
        res.end()
        status = 204
        return
      }
      const match = this.routes.find(candidate => candidate.param ? path.startsWith(candidate.prefix) : path === candidate.prefix)
      if (match === undefined) throw new NotFoundError(`no such endpoint: ${path.slice(0, 100)}`)
      route = match.name
      const method = req.method === 'HEAD' ? 'GET' : req.method
      if (method !== match.method) throw new HttpError(405, ErrorCode.UNSUPPORTED_METHOD, `${req.method ?? '?'} is not allowed on ${match.prefix}; use ${match.method}`)
      const param = match.param ? path.slice(match.prefix.length) : ''
      if (match.param && param === '') throw new InvalidParamsError(`${match.prefix} needs a value after the slash`)
      status = await match.handler(req, res, param, url.searchParams)
    } catch (err) {
      status = sendError(res, err)
      this.logFailure(req, status, err)
      // a rejected upload may leave a body unread; do not keep reading it
      if (req.method === 'PUT' || req.method === 'POST') req.resume()
    } finally {
      this.relay.metrics.httpRequests.inc({ route, status: String(status) })
      this.relay.metrics.httpDuration.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9)
    }
  }

  /**
   * A refusal the relay meant to give (4xx, 501, 503, a Peerloom error with its code) is one
   * line an operator can grep; only an unexpected failure carries its stack.
   */
  private logFailure (req: IncomingMessage, status: number, err: unknown): void {
    const request = `HTTP ${req.method ?? '?'} ${(req.url ?? '').slice(0, 200)} → ${status}`
    if (isPeerloomError(err) && status !== 500) this.log(`${request} ${err.name} ${err.code}: ${err.message.slice(0, 300)}`)
    else this.log(`${request}: ${(err as Error).stack ?? String(err)}`)
  }

  private health (res: ServerResponse): number {
    const health = this.relay.health()
    const status = health.status === 'ok' ? 200 : 503
    sendJson(res, status, health)
    return status
  }

  private async metrics (res: ServerResponse): Promise<number> {
    const { contentType, body } = await this.relay.metrics.render()
    res.writeHead(200, { ...CORS_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(body)
    return 200
  }
}
