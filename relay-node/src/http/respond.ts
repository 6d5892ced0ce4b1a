/** Answers in the shapes every route shares: JSON bodies, JSON errors with codes, CORS headers. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ErrorCode, PeerloomError, errorToWire, isPeerloomError } from '@peerloom/shared/errors'

/** Headers that let an extension or page fetch from another origin. */
export const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-allow-headers': 'Accept, Range, Content-Type',
  'access-control-expose-headers': 'Content-Length, Content-Type, Content-Disposition, Etag, X-Ipfs-Roots',
  'access-control-max-age': '86400'
} as const

/** An error the HTTP layer raises itself, with the status to answer. */
export class HttpError extends PeerloomError {
  readonly status: number

  constructor (status: number, code: PeerloomError['code'], message: string) {
    super(code, message)
    this.name = 'HttpError'
    this.status = status
  }
}

const STATUS_BY_CODE = new Map<number, number>([
  [ErrorCode.INVALID_PARAMS, 400],
  [ErrorCode.BAD_LINK, 400],
  [ErrorCode.BAD_CONFIG, 400],
  [ErrorCode.UNAUTHORIZED, 401],
  [ErrorCode.ACCESS_DENIED, 403],
  [ErrorCode.NOT_FOUND, 404],
  [ErrorCode.UNSUPPORTED_METHOD, 405],
  [ErrorCode.RANGE_NOT_SATISFIABLE, 416],
  [ErrorCode.BAD_MANIFEST, 422],
  [ErrorCode.BAD_SIGNATURE, 422],
  [ErrorCode.INTEGRITY, 422],
  [ErrorCode.RATE_LIMITED, 429],
  [ErrorCode.TIMEOUT, 504],
  [ErrorCode.QUOTA_EXCEEDED, 507]
])

/** The HTTP status for an error thrown by a route. */
export function statusOf (err: unknown): number {
  if (err instanceof HttpError) return err.status
  if (isPeerloomError(err)) return STATUS_BY_CODE.get(err.code) ?? 500
  return 500
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { ...CORS_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : text)
}

/** The `error` member of an answer: the shared wire form (code, message, data) plus the error's name. */
export function errorBody (err: PeerloomError): Record<string, unknown> {
  const { code, message, data } = errorToWire(err)
  return { code, name: err.name, message, ...(data === undefined ? {} : { data }) }
}

/** `{ "error": { code, name, message, data? } }`; internal errors keep their details in the log. */
export function sendError (res: ServerResponse, err: unknown): number {
  const status = statusOf(err)
  const body = isPeerloomError(err) && status !== 500
    ? errorBody(err)
    : { code: 500, name: 'InternalError', message: 'the relay failed to answer; its log has the details' }
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined)
    return status
  }
  sendJson(res, status, { error: body })
  return status
}

/** Whether the request's Accept header names `type`. */
export function accepts (req: IncomingMessage, type: string): boolean {
  return (req.headers.accept ?? '').split(',').some(part => part.trim().split(';')[0]?.trim() === type)
}
