/** Settings of the extension's node, edited in Options and stored per install. */
import { z } from 'zod'
import { address, byteCount, httpUrl, multiaddrString } from './fields.ts'

const MiB = 1024 * 1024

export const NODE_DEFAULTS = {
  /** Serving is opt-in: nothing is served until the donor turns it on. */
  donate: false,
  /** Disk the cache may use. @default 2 GiB */
  cacheCapBytes: 2 * 1024 * MiB,
  /** Upload rate while donating. @default 2 MiB/s */
  uploadRateBytesPerSec: 2 * MiB,
  /** Peers served at once while donating. @default 16 */
  maxServeConnections: 16,
  /** How long peers get before the origin is raced. @default 400 */
  hedgeDelayMs: 400
} as const

export const iceServerSchema = z.strictObject({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional()
})

export const nodeSettingsSchema = z.strictObject({
  /** Relay multiaddrs, each ending in /p2p/<peer id>. */
  relays: z.array(multiaddrString.refine(value => value.includes('/p2p/'), 'must end in /p2p/<peer id>')).default([]),
  /** Relay HTTP endpoints serving the Delegated Routing V1 API (`/routing/v1/providers/{cid}`). */
  routers: z.array(httpUrl).default([]),
  /** Origin Trustless Gateways (`/ipfs/{cid}?format=raw`), asked when no peer has a block. */
  gateways: z.array(httpUrl).default([]),
  iceServers: z.array(iceServerSchema).default([]),
  donate: z.boolean().default(NODE_DEFAULTS.donate),
  cacheCapBytes: byteCount(16 * MiB).default(NODE_DEFAULTS.cacheCapBytes),
  uploadRateBytesPerSec: byteCount(16 * 1024).default(NODE_DEFAULTS.uploadRateBytesPerSec),
  maxServeConnections: z.number().int().min(1).max(256).default(NODE_DEFAULTS.maxServeConnections),
  hedgeDelayMs: z.number().int().min(0).max(60_000).default(NODE_DEFAULTS.hedgeDelayMs),
  rpcUrl: httpUrl.optional(),
  payoutAddress: address.optional()
})

export type NodeSettings = z.output<typeof nodeSettingsSchema>
export type NodeSettingsInput = z.input<typeof nodeSettingsSchema>
