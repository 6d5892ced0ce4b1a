/**
 * The chain as the origin and the publisher's CLI see it: the deployment file, the
 * ContentRegistry (content records, access policies, registration, manifest updates) and the
 * gating tokens' balances, read with ethers over JSON-RPC.
 */
import { Contract, JsonRpcProvider, getAddress, isAddress } from 'ethers'
import type { ContractTransactionResponse, Signer } from 'ethers'
import { ChainError, ConfigError } from '@peerloom/shared'
import { readDeploymentFile } from '@peerloom/shared/deployment-file'
import type { Deployment } from '@peerloom/shared'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json' with { type: 'json' }
import tokenAbi from '@peerloom/shared/abi/PeerloomToken.json' with { type: 'json' }

/** Reads and checks a deployment file (contracts' `writeDeployment`). */
export async function loadDeployment (file: string): Promise<Deployment> {
  return await readDeploymentFile(file, '--deployment: ')
}

/** A JSON-RPC provider for a local or remote chain, without ethers' batching delay. */
export function chainProvider (rpcUrl: string, chainId: number): JsonRpcProvider {
  // no response cache: a publisher sends approve and register back to back, and a stale nonce would fail the second
  return new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 250 })
}

/** `ContentRegistry.AccessKind`. */
export const AccessKind = { public: 0, erc20: 1, erc721: 2, erc1155: 3 } as const
export type AccessKindName = keyof typeof AccessKind

/** An access policy as the registry stores it. */
export interface AccessPolicy {
  kind: AccessKindName
  token: string
  id: bigint
  minBalance: bigint
}

/** What the registry knows about one content id. */
export interface ContentRecord {
  publisher: string
  budgetExpiry: bigint
  keyVersion: number
  ratePerByte: bigint
  budget: bigint
  policy: AccessPolicy
  manifestCid: string
}

const KIND_NAMES = Object.keys(AccessKind) as AccessKindName[]

/** `public`, `erc20:ADDR:MIN`, `erc721:ADDR[:MIN]`, `erc1155:ADDR:ID:MIN` → a policy. */
export function parsePolicy (text: string): AccessPolicy {
  const parts = text.trim().split(':')
  const kind = parts[0]?.toLowerCase()
  const addr = (value: string | undefined): string => {
    if (value === undefined || !isAddress(value)) throw new ConfigError(`--policy ${text}: "${value ?? ''}" is not a token address`)
    return getAddress(value)
  }
  const amount = (value: string | undefined, what: string): bigint => {
    if (value === undefined || !/^\d{1,78}$/.test(value) || BigInt(value) === 0n) throw new ConfigError(`--policy ${text}: ${what} must be a whole number above 0`)
    return BigInt(value)
  }
  if (kind === 'public' && parts.length === 1) return { kind: 'public', token: '0x0000000000000000000000000000000000000000', id: 0n, minBalance: 0n }
  if (kind === 'erc20' && parts.length === 3) return { kind: 'erc20', token: addr(parts[1]), id: 0n, minBalance: amount(parts[2], 'the minimum balance') }
  if (kind === 'erc721' && (parts.length === 2 || parts.length === 3)) return { kind: 'erc721', token: addr(parts[1]), id: 0n, minBalance: parts.length === 3 ? amount(parts[2], 'the minimum balance') : 1n }
  if (kind === 'erc1155' && parts.length === 4) {
    if (!/^\d{1,78}$/.test(parts[2] ?? '')) throw new ConfigError(`--policy ${text}: the token id must be a whole number`)
    return { kind: 'erc1155', token: addr(parts[1]), id: BigInt(parts[2] as string), minBalance: amount(parts[3], 'the minimum balance') }
  }
  throw new ConfigError(`--policy: "${text}" is not one of public, erc20:ADDR:MIN, erc721:ADDR, erc1155:ADDR:ID:MIN`)
}

/** The policy as `--policy` spells it. */
export function formatPolicy (policy: AccessPolicy): string {
  switch (policy.kind) {
    case 'public': return 'public'
    case 'erc20': return `erc20:${policy.token}:${policy.minBalance}`
    case 'erc721': return `erc721:${policy.token}${policy.minBalance === 1n ? '' : `:${policy.minBalance}`}`
    case 'erc1155': return `erc1155:${policy.token}:${policy.id}:${policy.minBalance}`
  }
}

const GATING_ABI = [
  'function balanceOf(address) view returns (uint256)',
  'function balanceOf(address, uint256) view returns (uint256)',
  'function name() view returns (string)',
  'function symbol() view returns (string)'
]

/** Wraps a failed RPC call in a ChainError that names the chain. */
async function onChain<T> (rpcUrl: string, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'CALL_EXCEPTION') throw err
    throw new ChainError(`cannot ${what} on the chain at ${rpcUrl}: ${(err as { shortMessage?: string }).shortMessage ?? (err as Error).message}`, { cause: err })
  }
}

/** The ContentRegistry, read (and with a signer, written) over JSON-RPC. */
export class Registry {
  readonly deployment: Deployment
  readonly rpcUrl: string
  readonly provider: JsonRpcProvider
  private readonly contract: Contract
  private readonly tokenNames = new Map<string, string>()

  constructor (rpcUrl: string, deployment: Deployment, provider?: JsonRpcProvider) {
    this.rpcUrl = rpcUrl
    this.deployment = deployment
    this.provider = provider ?? chainProvider(rpcUrl, deployment.chainId)
    this.contract = new Contract(deployment.registry, registryAbi, this.provider)
  }

  /** The registry's record of `contentId`, or undefined when it is not registered. */
  async content (contentId: string): Promise<ContentRecord | undefined> {
    const c = await onChain(this.rpcUrl, `read content ${contentId}`, async () => await this.contract.getFunction('content')(contentId)) as {
      publisher: string, budgetExpiry: bigint, keyVersion: bigint, ratePerByte: bigint, budget: bigint, manifestCid: string,
      policy: { kind: bigint, token: string, id: bigint, minBalance: bigint }
    }
    if (BigInt(c.publisher) === 0n) return undefined
    return {
      publisher: getAddress(c.publisher),
      budgetExpiry: c.budgetExpiry,
      keyVersion: Number(c.keyVersion),
      ratePerByte: c.ratePerByte,
      budget: c.budget,
      manifestCid: c.manifestCid,
      policy: { kind: KIND_NAMES[Number(c.policy.kind)] ?? 'public', token: getAddress(c.policy.token), id: c.policy.id, minBalance: c.policy.minBalance }
    }
  }

  /**
   * Bytes of `contentId` that servers (peers) were paid for: the sum of the registry's
   * `RewardPaid` events since the deployment, i.e. receipts the RewardPool verified in a claim,
   * each capped by its grant. Deliveries not claimed yet are not in it.
   */
  async claimedBytes (contentId: string): Promise<{ bytes: bigint, claims: number, toBlock: number }> {
    return await onChain(this.rpcUrl, `read the claims of ${contentId}`, async () => {
      const toBlock = await this.provider.getBlockNumber()
      const events = await this.contract.queryFilter(this.contract.getEvent('RewardPaid')(contentId), this.deployment.blockNumber, toBlock)
      let bytes = 0n
      for (const event of events) bytes += (event as unknown as { args: { byteCount: bigint } }).args.byteCount
      return { bytes, claims: events.length, toBlock }
    })
  }

  /** Whether `account` passes the policy, by the registry's own check, and what it holds. */
  async access (contentId: string, policy: AccessPolicy, account: string): Promise<{ allowed: boolean, balance: bigint }> {
    const allowed = await onChain(this.rpcUrl, 'check access', async () => await this.contract.getFunction('hasAccess')(contentId, account)) as boolean
    if (policy.kind === 'public') return { allowed, balance: 0n }
    const token = new Contract(policy.token, GATING_ABI, this.provider)
    const balance = await onChain(this.rpcUrl, `read a balance on ${policy.token}`, async () => policy.kind === 'erc1155'
      ? await token.getFunction('balanceOf(address,uint256)')(account, policy.id) as bigint
      : await token.getFunction('balanceOf(address)')(account) as bigint)
    return { allowed, balance }
  }

  /** "at least 1 DevnetPass (ERC-721 0x…)": the policy in words. */
  async describe (policy: AccessPolicy): Promise<string> {
    if (policy.kind === 'public') return 'nothing (public)'
    let name = this.tokenNames.get(policy.token)
    if (name === undefined) {
      const token = new Contract(policy.token, GATING_ABI, this.provider)
      name = await token.getFunction('name')().then(value => String(value), () => 'tokens')
      if (name === 'Peerloom Devnet Pass') name = 'DevnetPass'
      this.tokenNames.set(policy.token, name)
    }
    const standard = policy.kind === 'erc20' ? 'ERC-20' : policy.kind === 'erc721' ? 'ERC-721' : `ERC-1155 id ${policy.id}`
    return `at least ${policy.minBalance} ${name} (${standard} ${policy.token})`
  }

  /**
   * Registers `contentId` from `signer` (the publisher): approves the budget to the registry
   * when there is one, then registers. Resolves with the registration transaction's hash and block.
   */
  async register (signer: Signer, fields: { contentId: string, manifestCid: string, keyVersion: number, policy: AccessPolicy, ratePerByte: bigint, budget: bigint, budgetExpiry: bigint }): Promise<{ tx: string, block: number }> {
    const registry = this.contract.connect(signer) as Contract
    if (fields.budget > 0n) {
      const token = new Contract(this.deployment.token, tokenAbi, signer)
      const owner = await signer.getAddress()
      const balance = await onChain(this.rpcUrl, 'read the token balance', async () => await token.getFunction('balanceOf')(owner) as bigint)
      if (balance < fields.budget) throw new ChainError(`--budget ${fields.budget} is more than the ${balance} PeerloomToken base units ${owner} holds`)
      await mined(this.rpcUrl, 'approve the budget', async () => await token.getFunction('approve')(this.deployment.registry, fields.budget) as ContractTransactionResponse)
    }
    const policy = { kind: AccessKind[fields.policy.kind], token: fields.policy.token, id: fields.policy.id, minBalance: fields.policy.minBalance }
    return await mined(this.rpcUrl, 'register the content', async () => await registry.getFunction('register')(
      fields.contentId, fields.manifestCid, fields.keyVersion, policy, fields.ratePerByte, fields.budget, fields.budgetExpiry
    ) as ContractTransactionResponse, registry)
  }

  /** Points `contentId` at a new manifest and key version (rotation). */
  async updateManifest (signer: Signer, contentId: string, manifestCid: string, keyVersion: number): Promise<{ tx: string, block: number }> {
    const registry = this.contract.connect(signer) as Contract
    return await mined(this.rpcUrl, 'update the manifest', async () => await registry.getFunction('updateManifest')(contentId, manifestCid, keyVersion) as ContractTransactionResponse, registry)
  }
}

/** Sends a transaction and waits for it; a revert becomes a ChainError naming the contract error. */
async function mined (rpcUrl: string, what: string, send: () => Promise<ContractTransactionResponse>, contract?: Contract): Promise<{ tx: string, block: number }> {
  try {
    const tx = await send()
    const receipt = await tx.wait()
    if (receipt === null || receipt.status !== 1) throw new ChainError(`${what}: transaction ${tx.hash} failed`)
    return { tx: tx.hash, block: receipt.blockNumber }
  } catch (err) {
    if (err instanceof Error && err.name === 'ChainError') throw err
    const data = (err as { data?: string }).data
    const parsed = data === undefined ? undefined : contract?.interface.parseError(data) ?? undefined
    const detail = parsed === undefined ? (err as { shortMessage?: string }).shortMessage ?? (err as Error).message : `${parsed.name}(${parsed.args.map(String).join(', ')})`
    throw new ChainError(`cannot ${what} on the chain at ${rpcUrl}: ${detail}`, { cause: err })
  }
}
