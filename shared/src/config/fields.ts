/** Field schemas shared by the relay's and the extension's configuration. */
import { z } from 'zod'

/** A multiaddr string; full parsing happens where @multiformats/multiaddr is loaded. */
export const multiaddrString = z.string().regex(/^(\/[\w.:%-]+)+\/?$/, 'must be a multiaddr such as /ip4/127.0.0.1/tcp/4002/ws')

/** host:port, port 0 meaning any free port. */
export const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$/, 'must be host:port such as 127.0.0.1:8080')
  .refine(value => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535')

/** An http(s) URL. */
export const httpUrl = z.string().url('must be a URL').refine(value => /^https?:\/\//.test(value), 'must be an http:// or https:// URL')


/** A positive whole number of bytes; `shown` is the minimum as the error message names it. */
export const byteCount = (min: number, shown = String(min)) => z.number().int('must be a whole number').min(min, `must be at least ${shown}`).max(Number.MAX_SAFE_INTEGER)
