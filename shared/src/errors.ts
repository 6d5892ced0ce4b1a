/**
 * Errors with stable numeric codes. Every failure a caller can act on is a `PeerloomError`
 * subclass; branch on `err.code` (stable across versions) or `err.name`.
 *
 * Codes 4001–4900 follow EIP-1193 so a site that handles wallet errors handles ours.
 * Codes 5xxx are Peerloom's own.
 */

export const ErrorCode = {
  /** The user refused the request (EIP-1193). */
  USER_REJECTED: 4001,
  /** The origin has not been granted access (EIP-1193). */
  UNAUTHORIZED: 4100,
  /** The method is not supported (EIP-1193). */
  UNSUPPORTED_METHOD: 4200,
  /** The extension's node is not running or not reachable (EIP-1193). */
  DISCONNECTED: 4900,

  /** A parameter is missing, of the wrong type or out of bounds. */
  INVALID_PARAMS: 5000,
  /** No peer and no origin has the content. */
  NOT_FOUND: 5001,
  /** A `peerloom://` link is malformed. */
  BAD_LINK: 5002,
  /** A requested byte range lies outside the content. */
  RANGE_NOT_SATISFIABLE: 5003,
  /** The cache or the disk is full. */
  QUOTA_EXCEEDED: 5004,
  /** Too many requests from one origin or peer. */
  RATE_LIMITED: 5005,
  /** A sealed chunk failed authentication: wrong key, wrong index or tampered bytes. */
  INTEGRITY: 5006,
  /** A manifest is malformed or of an unknown version or cipher. */
  BAD_MANIFEST: 5007,
  /** A signature does not verify or names another signer. */
  BAD_SIGNATURE: 5008,
  /** A configuration value is invalid. */
  BAD_CONFIG: 5009,
  /** A network operation did not finish in time. */
  TIMEOUT: 5010,
  /** Access to gated content was refused by its policy. */
  ACCESS_DENIED: 5011,
  /** The chain could not be reached or rejected a transaction. */
  CHAIN: 5012,
  /** The call is not known here: it was left, or never joined from this page. */
  CALL_NOT_FOUND: 5020,
  /** Too many calls on one page, or participants in one room. */
  CALL_LIMIT: 5021
} as const

export type ErrorCodeName = keyof typeof ErrorCode
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName]

/** Base class: a message a person can act on, a stable code a program can act on. */
export class PeerloomError extends Error {
  readonly code: ErrorCodeValue
  readonly data?: Record<string, unknown>

  constructor (code: ErrorCodeValue, message: string, options?: { cause?: unknown, data?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    if (options?.data !== undefined) this.data = options.data
  }

  /** A plain object safe to post across a message channel or print as JSON. */
  toJSON (): { name: string, code: number, message: string, data?: Record<string, unknown> } {
    return { name: this.name, code: this.code, message: this.message, ...(this.data === undefined ? {} : { data: this.data }) }
  }
}

function errorClass<N extends string> (name: N, code: ErrorCodeValue): new (message: string, options?: { cause?: unknown, data?: Record<string, unknown> }) => PeerloomError & { name: N } {
  const cls = class extends PeerloomError {
    constructor (message: string, options?: { cause?: unknown, data?: Record<string, unknown> }) {
      super(code, message, options)
      this.name = name
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  return cls as never
}

export const UserRejectedError = errorClass('UserRejectedError', ErrorCode.USER_REJECTED)
export const UnauthorizedError = errorClass('UnauthorizedError', ErrorCode.UNAUTHORIZED)
export const UnsupportedMethodError = errorClass('UnsupportedMethodError', ErrorCode.UNSUPPORTED_METHOD)
export const DisconnectedError = errorClass('DisconnectedError', ErrorCode.DISCONNECTED)
export const InvalidParamsError = errorClass('InvalidParamsError', ErrorCode.INVALID_PARAMS)
export const NotFoundError = errorClass('NotFoundError', ErrorCode.NOT_FOUND)
export const BadLinkError = errorClass('BadLinkError', ErrorCode.BAD_LINK)
export const RangeNotSatisfiableError = errorClass('RangeNotSatisfiableError', ErrorCode.RANGE_NOT_SATISFIABLE)
export const QuotaExceededError = errorClass('QuotaExceededError', ErrorCode.QUOTA_EXCEEDED)
export const RateLimitedError = errorClass('RateLimitedError', ErrorCode.RATE_LIMITED)
export const IntegrityError = errorClass('IntegrityError', ErrorCode.INTEGRITY)
export const BadManifestError = errorClass('BadManifestError', ErrorCode.BAD_MANIFEST)
export const BadSignatureError = errorClass('BadSignatureError', ErrorCode.BAD_SIGNATURE)
export const ConfigError = errorClass('ConfigError', ErrorCode.BAD_CONFIG)
export const TimeoutError = errorClass('TimeoutError', ErrorCode.TIMEOUT)
export const AccessDeniedError = errorClass('AccessDeniedError', ErrorCode.ACCESS_DENIED)
export const ChainError = errorClass('ChainError', ErrorCode.CHAIN)
export const CallNotFoundError = errorClass('CallNotFoundError', ErrorCode.CALL_NOT_FOUND)
export const CallLimitError = errorClass('CallLimitError', ErrorCode.CALL_LIMIT)

const byCode = new Map<number, new (message: string, options?: { data?: Record<string, unknown> }) => PeerloomError>([
  UserRejectedError, UnauthorizedError, UnsupportedMethodError, DisconnectedError, InvalidParamsError,
  NotFoundError, BadLinkError, RangeNotSatisfiableError, QuotaExceededError, RateLimitedError,
  IntegrityError, BadManifestError, BadSignatureError, ConfigError, TimeoutError, AccessDeniedError, ChainError,
  CallNotFoundError, CallLimitError
].map(cls => [new cls('').code, cls]))

/** An error as it crosses a message channel, an HTTP answer or a JSON-RPC reply. */
export interface WireError {
  code: number
  message: string
  data?: Record<string, unknown>
}

/** Any thrown value as a WireError: a PeerloomError keeps its code and data, anything else is 4900. */
export function errorToWire (err: unknown): WireError {
  if (isPeerloomError(err)) return { code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) }
  const message = err instanceof Error ? err.message : String(err)
  return { code: ErrorCode.DISCONNECTED, message }
}

/** Rebuilds an error that crossed a message boundary (as `errorToWire` or `toJSON()` wrote it). */
export function errorFromWire (value: { code?: unknown, message?: unknown, data?: unknown }): PeerloomError {
  const message = typeof value.message === 'string' ? value.message : 'unknown error'
  const data = typeof value.data === 'object' && value.data !== null ? value.data as Record<string, unknown> : undefined
  const cls = typeof value.code === 'number' ? byCode.get(value.code) : undefined
  if (cls === undefined) return new PeerloomError(ErrorCode.DISCONNECTED, message, data === undefined ? undefined : { data })
  return new cls(message, data === undefined ? undefined : { data })
}

/** True when `err` is a PeerloomError (also across realms, where instanceof fails). */
export function isPeerloomError (err: unknown): err is PeerloomError {
  return err instanceof PeerloomError || (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' && typeof (err as { message?: unknown }).message === 'string' && byCode.has((err as { code: number }).code))
}
