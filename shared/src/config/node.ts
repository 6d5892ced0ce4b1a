/** Settings of the extension's node, edited in Options and stored per install. */
import { z } from 'zod'
import { isAddress } from 'ethers'
import { byteCount, httpUrl, multiaddrString } from './fields.ts'

/** A 0x Ethereum address (the relay's config needs none, so ethers stays out of it). */
const address = z.string().refine(value => isAddress(value), 'must be a 0x Ethereum address')

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
  hedgeDelayMs: 400,
  /** Reward epoch length, seconds. @default 3600 */
  epochSeconds: 3600,
  /** Claim an epoch early past this many receipted bytes. @default 256 MiB */
  claimThresholdBytes: 256 * MiB,
  /** The media role (forwarding calls for others) is opt-in, like serving. */
  mediaForward: false,
  /** Streams forwarded at once (one stream = one sender's track to one subscriber). @default 16 */
  mediaMaxStreams: 16,
  /** Upload the forwarder may use. @default 4 MiB/s */
  mediaUploadRateBytesPerSec: 4 * MiB
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
  cacheCapBytes: byteCount(16 * MiB, '16 MiB').default(NODE_DEFAULTS.cacheCapBytes),
  uploadRateBytesPerSec: byteCount(16 * 1024, '16 KiB/s (0.016 MiB/s)').default(NODE_DEFAULTS.uploadRateBytesPerSec),
  maxServeConnections: z.number().int('must be a whole number').min(1, 'must be at least 1').max(256, 'must be at most 256').default(NODE_DEFAULTS.maxServeConnections),
  hedgeDelayMs: z.number().int().min(0).max(60_000).default(NODE_DEFAULTS.hedgeDelayMs),
  /** Origins whose key service (`/keys/v1`) grants keys to gated content; the gateways when empty. */
  keyServices: z.array(httpUrl).default([]),
  /** JSON-RPC URL of the chain rewards are claimed on (and gated content's grants are for). */
  rpcUrl: httpUrl.optional(),
  /** Where rewards are paid; the node's own address when absent. */
  payoutAddress: address.optional(),
  /** The chain's id: key requests and EIP-712 receipts and grants name it. */
  chainId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /** RewardPool: claims go here; the EIP-712 verifying contract of receipts and grants. */
  rewardPool: address.optional(),
  /** ContentRegistry: who published a content (grants must be signed by them). */
  contentRegistry: address.optional(),
  /** Length of a reward epoch: receipts are claimed once it ends. @default 3600 */
  epochSeconds: z.number().int('must be a whole number of seconds').min(2, 'must be at least 2 seconds').max(7 * 24 * 3600, 'must be at most 604800 seconds (7 days)').default(NODE_DEFAULTS.epochSeconds),
  /** An epoch is claimed early once its receipts cover this many bytes. @default 256 MiB */
  claimThresholdBytes: byteCount(1).default(NODE_DEFAULTS.claimThresholdBytes),
  /** Calls (docs/CALLS.md): forward other people's call media as a donor, within these caps. */
  media: z.strictObject({
    forward: z.boolean().default(NODE_DEFAULTS.mediaForward),
    maxStreams: z.number().int('must be a whole number').min(1, 'must be at least 1').max(256, 'must be at most 256').default(NODE_DEFAULTS.mediaMaxStreams),
    uploadRateBytesPerSec: byteCount(64 * 1024, '64 KiB/s (0.0625 MiB/s)').default(NODE_DEFAULTS.mediaUploadRateBytesPerSec)
  }).prefault({})
})

export type NodeSettings = z.output<typeof nodeSettingsSchema>
export type NodeSettingsInput = z.input<typeof nodeSettingsSchema>
