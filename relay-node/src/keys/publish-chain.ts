/**
 * The chain half of `peerloom publish`: gated publishing (the content key goes to the origin's
 * key store instead of the link), registration in the ContentRegistry with an access policy,
 * reward rate and budget, and key rotation (`--rotate`: a new key version, a new manifest and
 * `updateManifest`, after which the key service grants the new key).
 */
import { parseUnits } from 'ethers'
import type { Wallet } from 'ethers'
import { ConfigError } from '@peerloom/shared'
import type { PublishedContent, PublishTarget } from '../publish.ts'
import { KeyStore } from './key-store.ts'
import { Registry, formatPolicy, loadDeployment, parsePolicy } from './registry.ts'
import type { AccessPolicy } from './registry.ts'

export const CHAIN_USAGE = `
On chain (with --rpc and --deployment the content is registered in the ContentRegistry):
  --rpc <url>           the chain's JSON-RPC URL (PEERLOOM_RPC)
  --deployment <file>   deployment JSON with the registry address (PEERLOOM_DEPLOYMENT)
  --gated               the link carries no key: viewers get it from the origin's key service,
                        which checks --policy on chain (needs --data: the key is stored there)
  --policy <p>          who may get the key: public, erc20:ADDR:MIN, erc721:ADDR[:MIN],
                        erc1155:ADDR:ID:MIN (default public; --gated needs one)
  --rate <units>        reward per delivered byte, in token base units (default 1)
  --budget <amount>     tokens moved into the content's reward budget: base units, or
                        e.g. 100LOOM (default 0); the publisher key must hold them and ETH for gas
  --budget-days <n>     days before the publisher may withdraw what is left (default 30)
  --rotate              with --content-id: re-encrypt under a new key version and point the
                        registry at the new manifest; new grants carry the new key
`

/** What the chain part of a publish needs. */
export interface ChainOptions {
  rpc: string
  deploymentFile: string
  gated: boolean
  rotate: boolean
  policy: AccessPolicy
  ratePerByte: bigint
  budget: bigint
  budgetDays: number
  /** Where the content key is stored (the origin's data directory), if there is one. */
  dataDir?: string
}

/** What a registration in the ContentRegistry prints under `registration` (`peerloom publish`, `peerloom room create`). */
export interface ChainRegistration {
  chainId: number
  registry: string
  publisher: string
  tx: string
  block: number
  keyVersion: number
  policy: string
  ratePerByte: string
  budget: string
  budgetExpiry: number
}

/** What `peerloom publish` prints under `registration`. */
export interface Registration extends ChainRegistration {
  rotated: boolean
}

/** `1000` (base units) or `10LOOM` (tokens) → base units; ConfigError naming `flag` otherwise. */
export function amountOf (text: string, flag: string): bigint {
  const tokens = /^(\d+(?:\.\d+)?)\s*LOOM$/i.exec(text.trim())
  try {
    if (tokens?.[1] !== undefined) return parseUnits(tokens[1], 18)
    if (/^\d{1,78}$/.test(text.trim())) return BigInt(text.trim())
  } catch {
    // too many decimals for parseUnits: reported below
  }
  throw new ConfigError(`${flag}: "${text}" is not an amount; write base units (1000) or tokens (10LOOM)`)
}

/** Reads the chain flags; undefined when the publish does not touch the chain. */
export async function chainOptionsFrom (values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, target: PublishTarget, dataDir: string | undefined): Promise<ChainOptions | undefined> {
  const rpc = (values.rpc as string | undefined) ?? env.PEERLOOM_RPC
  const deploymentFile = (values.deployment as string | undefined) ?? env.PEERLOOM_DEPLOYMENT
  const gated = values.gated === true
  const rotate = values.rotate === true
  const chainOnly = ['policy', 'rate', 'budget', 'budget-days'].filter(flag => values[flag] !== undefined)
  if (rpc === undefined && deploymentFile === undefined && !gated && !rotate && chainOnly.length === 0) return undefined
  if (rpc === undefined || deploymentFile === undefined) {
    throw new ConfigError(`${gated ? '--gated' : rotate ? '--rotate' : chainOnly.length > 0 ? `--${chainOnly[0] as string}` : 'registration'} needs the chain: pass --rpc <url> and --deployment <file> (or PEERLOOM_RPC and PEERLOOM_DEPLOYMENT)`)
  }
  if (!/^https?:\/\//.test(rpc)) throw new ConfigError(`--rpc: must be an http:// or https:// URL (got ${JSON.stringify(rpc)})`)
  const policy = values.policy === undefined ? parsePolicy('public') : parsePolicy(values.policy as string)
  if (gated && values.policy === undefined && !rotate) throw new ConfigError('--gated needs --policy: who may get the key (e.g. erc721:0x… for holders of an NFT)')
  const storeDir = target.kind === 'data' ? target.dir : dataDir
  if ((gated || rotate) && storeDir === undefined) throw new ConfigError(`${gated ? '--gated' : '--rotate'} needs --data <origin data dir>: the content key is stored there for the origin's key service`)
  if (rotate && values['content-id'] === undefined) throw new ConfigError('--rotate needs --content-id: the content whose key is replaced')
  const budgetDays = values['budget-days'] === undefined ? 30 : Number(values['budget-days'])
  if (!Number.isInteger(budgetDays) || budgetDays < 1 || budgetDays > 3650) throw new ConfigError(`--budget-days: must be a whole number of days from 1 to 3650 (got ${JSON.stringify(values['budget-days'])})`)
  await loadDeployment(deploymentFile)
  return {
    rpc,
    deploymentFile,
    gated,
    rotate,
    policy,
    ratePerByte: values.rate === undefined ? 1n : amountOf(values.rate as string, '--rate'),
    budget: values.budget === undefined ? 0n : amountOf(values.budget as string, '--budget'),
    budgetDays,
    ...(storeDir === undefined ? {} : { dataDir: storeDir })
  }
}

async function registryOf (chain: ChainOptions): Promise<Registry> {
  return new Registry(chain.rpc, await loadDeployment(chain.deploymentFile))
}

/**
 * Before sealing: for a rotation, the next key version (and whether the content is gated);
 * otherwise checks the content id is still free.
 */
export async function resolveRotation (chain: ChainOptions, signer: Wallet, contentId: Uint8Array | undefined): Promise<{ keyVersion?: number, gated: boolean }> {
  if (contentId === undefined) return { gated: chain.gated }
  const registry = await registryOf(chain)
  const id = `0x${Buffer.from(contentId).toString('hex')}`
  const existing = await registry.content(id)
  if (!chain.rotate) {
    if (existing !== undefined) throw new ConfigError(`content ${id} is already registered (by ${existing.publisher}); pass --rotate to publish a new key version of it`)
    return { gated: chain.gated }
  }
  if (existing === undefined) throw new ConfigError(`--rotate: content ${id} is not registered; publish it without --rotate first`)
  if (existing.publisher !== signer.address) throw new ConfigError(`--rotate: content ${id} is registered by ${existing.publisher}, not by this publisher key (${signer.address})`)
  const stored = chain.dataDir === undefined ? undefined : await new KeyStore(chain.dataDir).latestVersion(id)
  return { keyVersion: Math.max(existing.keyVersion, stored ?? 0) + 1, gated: chain.gated || existing.policy.kind !== 'public' }
}

/** After sealing: stores the content key with the origin and registers (or rotates) on chain. */
export async function registerPublished (chain: ChainOptions, signer: Wallet, published: PublishedContent): Promise<Registration> {
  const registry = await registryOf(chain)
  if (chain.dataDir !== undefined) {
    await new KeyStore(chain.dataDir).save({
      contentId: published.contentId,
      keyVersion: published.keyVersion,
      key: published.contentKey,
      manifest: published.manifest,
      size: published.size,
      chunkSize: published.chunkSize
    })
  }
  const publisher = signer.connect(registry.provider)
  const base = { chainId: registry.deployment.chainId, registry: registry.deployment.registry, publisher: signer.address, keyVersion: published.keyVersion }
  if (chain.rotate) {
    const current = await registry.content(published.contentId)
    const { tx, block } = await registry.updateManifest(publisher, published.contentId, published.manifest, published.keyVersion)
    return {
      ...base,
      tx,
      block,
      rotated: true,
      policy: current === undefined ? 'unknown' : formatPolicy(current.policy),
      ratePerByte: (current?.ratePerByte ?? 0n).toString(),
      budget: (current?.budget ?? 0n).toString(),
      budgetExpiry: Number(current?.budgetExpiry ?? 0n)
    }
  }
  const registered = await registerContent(registry, signer, {
    contentId: published.contentId,
    manifestCid: published.manifest,
    keyVersion: published.keyVersion,
    policy: chain.policy,
    ratePerByte: chain.ratePerByte,
    budget: chain.budget,
    budgetDays: chain.budgetDays
  })
  return { ...registered, rotated: false }
}

/**
 * Registers `contentId` in the ContentRegistry with its policy, reward rate and a budget the
 * publisher may withdraw `budgetDays` after the chain's latest block; resolves with what
 * `registration` prints. Published content and gated rooms are registered alike.
 */
export async function registerContent (registry: Registry, signer: Wallet, fields: {
  contentId: string
  manifestCid: string
  keyVersion: number
  policy: AccessPolicy
  ratePerByte: bigint
  budget: bigint
  budgetDays: number
}): Promise<ChainRegistration> {
  const { budgetDays, ...entry } = fields
  const latest = await registry.provider.getBlock('latest')
  const budgetExpiry = BigInt((latest?.timestamp ?? Math.floor(Date.now() / 1000)) + budgetDays * 24 * 60 * 60)
  const { tx, block } = await registry.register(signer.connect(registry.provider), { ...entry, budgetExpiry })
  return {
    chainId: registry.deployment.chainId,
    registry: registry.deployment.registry,
    publisher: signer.address,
    tx,
    block,
    keyVersion: fields.keyVersion,
    policy: formatPolicy(fields.policy),
    ratePerByte: fields.ratePerByte.toString(),
    budget: fields.budget.toString(),
    budgetExpiry: Number(budgetExpiry)
  }
}
