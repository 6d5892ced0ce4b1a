/**
 * A real anvil chain with the contracts deployed, plus helpers to register content and sign
 * receipts and grants with the project's one EIP-712 signer (`@peerloom/shared/eip712`).
 * Used by the tests and the gas benchmark.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Contract, Interface, JsonRpcProvider, Wallet, hexlify, randomBytes } from 'ethers'
import type { ContractTransactionResponse, JsonFragment, Result, TransactionReceipt, TypedDataDomain } from 'ethers'
import { peerloomDomain, signGrant, signReceipt } from '@peerloom/shared/eip712'
import type { Grant, Receipt } from '@peerloom/shared/eip712'
import { deployAll, startChain } from '../src/chain.ts'
import type { Deployment } from '@peerloom/shared'
import type { Chain, StartChainOptions } from '../src/chain.ts'
import { ARTIFACTS_FILE, loadArtifacts } from '../src/compile.ts'
import type { ArtifactSet } from '../src/compile.ts'
import type { ContractName } from '../src/constants.ts'
import { buildClaim } from '../src/claim.ts'
import type { ContentClaim, SignedReceiptWithGrant } from '../src/claim.ts'

/** 10^18: one whole token. */
export const TOKEN = 10n ** 18n

/** `ContentRegistry.AccessKind` */
export const AccessKind = { Public: 0, ERC20: 1, ERC721: 2, ERC1155: 3 } as const

export interface AccessPolicy {
  kind: number
  token: string
  id: bigint
  minBalance: bigint
}

export const PUBLIC_POLICY: AccessPolicy = { kind: AccessKind.Public, token: '0x0000000000000000000000000000000000000000', id: 0n, minBalance: 0n }

export interface Fixture {
  chain: Chain
  provider: JsonRpcProvider
  artifacts: ArtifactSet
  deployment: Deployment
  deployer: Wallet
  publisher: Wallet
  server: Wallet
  /** Funded accounts beyond deployer, publisher and server. */
  others: Wallet[]
  token: Contract
  registry: Contract
  pool: Contract
  pass: Contract
  badges: Contract
  /** The EIP-712 domain of receipts and grants (verifyingContract: the pool). */
  domain: TypedDataDomain
  /** Connects a contract of this deployment to `runner`. */
  at: (name: ContractName, address: string, runner?: Wallet) => Contract
  stop: () => Promise<void>
}

/**
 * How long anvil may take to listen in the tests: on a machine whose cores are all busy it
 * takes far longer than startChain's default allows.
 */
export const CHAIN_START_TIMEOUT_MS = 120_000

/** Starts anvil (with `options`), deploys everything and mints 1,000,000 tokens to the publisher. */
export async function startFixture (options: StartChainOptions = {}): Promise<Fixture> {
  // compile first: solc-js blocks the event loop, which would starve anvil's start-up timer
  const artifacts = await loadArtifacts()
  const chain = await startChain({ timeoutMs: CHAIN_START_TIMEOUT_MS, ...options })
  try {
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50, batchMaxCount: 1 })
    const [deployer, publisher, server, ...others] = chain.accounts.map(key => new Wallet(key, provider))
    if (deployer === undefined || publisher === undefined || server === undefined) throw new Error('anvil gave too few accounts')
    const deployment = await deployAll(deployer, { artifacts, mint: [{ to: publisher.address, amount: 1_000_000n * TOKEN }] })
    const at = (name: ContractName, address: string, runner: Wallet = deployer): Contract =>
      new Contract(address, artifacts.contracts[name].abi, runner)
    if (deployment.pass === undefined || deployment.badges === undefined) throw new Error('devnet tokens were not deployed')
    return {
      chain,
      provider,
      artifacts,
      deployment,
      deployer,
      publisher,
      server,
      others,
      token: at('PeerloomToken', deployment.token),
      registry: at('ContentRegistry', deployment.registry),
      pool: at('RewardPool', deployment.pool),
      pass: at('DevnetPass', deployment.pass),
      badges: at('DevnetBadges', deployment.badges),
      domain: peerloomDomain(chain.chainId, deployment.pool),
      at,
      stop: async () => { provider.destroy(); await chain.stop() }
    }
  } catch (err) {
    await chain.stop()
    throw err
  }
}

/** A fresh random content id. */
export function randomContentId (): string {
  return hexlify(randomBytes(32))
}

/** `n` fresh, unfunded client keys (clients only sign; they never send transactions). */
export function randomClients (n: number): Wallet[] {
  return Array.from({ length: n }, () => new Wallet(hexlify(randomBytes(32))))
}

/** The latest block's timestamp. */
export async function chainTime (f: Fixture): Promise<bigint> {
  const block = await f.provider.getBlock('latest')
  if (block === null) throw new Error('no latest block')
  return BigInt(block.timestamp)
}

/** Moves the chain clock forward by `seconds` and mines a block. */
export async function advanceTime (f: Fixture, seconds: number): Promise<void> {
  await f.provider.send('evm_increaseTime', [seconds])
  await f.provider.send('evm_mine', [])
}

/** Runs `fn`, then rolls the chain back to where it was (state and clock). */
export async function isolated<T> (f: Fixture, fn: () => Promise<T>): Promise<T> {
  const id = await f.provider.send('evm_snapshot', []) as string
  try {
    return await fn()
  } finally {
    await f.provider.send('evm_revert', [id])
  }
}

export interface ContentOptions {
  publisher?: Wallet
  contentId?: string
  manifestCid?: string
  keyVersion?: number
  policy?: AccessPolicy
  ratePerByte?: bigint
  budget?: bigint
  /** Seconds from now until the budget can be withdrawn. @default 30 days */
  budgetLifetime?: number
}

/** Registers content (approving the budget first) and returns its id. */
export async function registerContent (f: Fixture, options: ContentOptions = {}): Promise<string> {
  const publisher = options.publisher ?? f.publisher
  const contentId = options.contentId ?? randomContentId()
  const budget = options.budget ?? 1000n * TOKEN
  if (budget > 0n) await (await f.at('PeerloomToken', f.deployment.token, publisher).getFunction('approve')(f.deployment.registry, budget)).wait()
  const expiry = (await chainTime(f)) + BigInt(options.budgetLifetime ?? 30 * 86400)
  const tx = await f.at('ContentRegistry', f.deployment.registry, publisher).getFunction('register')(
    contentId,
    options.manifestCid ?? 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    options.keyVersion ?? 1,
    options.policy ?? PUBLIC_POLICY,
    options.ratePerByte ?? 1_000_000n,
    budget,
    expiry
  )
  await tx.wait()
  return contentId
}

export interface ReceiptOptions {
  client: Wallet
  contentId: string
  bytes: bigint
  epoch: bigint
  server?: string
  /** Who signs the grant. @default f.publisher */
  grantSigner?: Wallet
  /** @default bytes */
  maxBytes?: bigint
  /** Unix seconds. @default one day after the chain's current time */
  expiry?: bigint
}

/** A receipt signed by `client` and its grant signed by the publisher. */
export async function signedReceipt (f: Fixture, options: ReceiptOptions): Promise<SignedReceiptWithGrant> {
  const receipt: Receipt = {
    server: options.server ?? f.server.address,
    client: options.client.address,
    contentId: options.contentId,
    epoch: options.epoch,
    bytes: options.bytes
  }
  const grant: Grant = {
    client: options.client.address,
    contentId: options.contentId,
    maxBytes: options.maxBytes ?? options.bytes,
    expiry: options.expiry ?? (await chainTime(f)) + 86400n
  }
  const [signature, grantSignature] = await Promise.all([
    signReceipt(options.client, f.domain, receipt),
    signGrant(options.grantSigner ?? f.publisher, f.domain, grant)
  ])
  return { receipt, signature, grant, grantSignature }
}

/** A token balance. */
export async function balanceOf (f: Fixture, account: string): Promise<bigint> {
  return await f.token.getFunction('balanceOf')(account) as bigint
}

/** Sends `RewardPool.claim(epoch, payee, claims)` from `server` and waits for it. */
export async function sendClaim (
  f: Fixture,
  epoch: bigint,
  claims: ContentClaim[],
  options: { server?: Wallet, payee?: string } = {}
): Promise<TransactionReceipt> {
  const server = options.server ?? f.server
  const pool = f.at('RewardPool', f.deployment.pool, server)
  const tx = await pool.getFunction('claim')(epoch, options.payee ?? server.address, claims) as ContractTransactionResponse
  const receipt = await tx.wait()
  if (receipt === null) throw new Error('claim was not mined')
  return receipt
}

/** Builds a claim from signed receipts (all for one server and epoch) and sends it. */
export async function claimReceipts (
  f: Fixture,
  items: SignedReceiptWithGrant[],
  options: { server?: Wallet, payee?: string } = {}
): Promise<TransactionReceipt> {
  const { epoch, claims } = buildClaim(items)
  return await sendClaim(f, epoch, claims, options)
}

/** Every custom error of every contract, to decode reverts whichever contract raised them. */
let errorInterface: Interface | undefined
function decodeRevert (err: unknown): { name: string, args: unknown[] } | undefined {
  const e = err as { revert?: { name: string, args: unknown[] } | null, data?: string | null }
  if (e.revert !== undefined && e.revert !== null) return e.revert
  if (typeof e.data !== 'string' || e.data.length < 10) return undefined
  if (errorInterface === undefined) {
    const artifacts = JSON.parse(readFileSync(ARTIFACTS_FILE, 'utf8')) as ArtifactSet
    const seen = new Map<string, JsonFragment>()
    for (const { abi } of Object.values(artifacts.contracts)) {
      for (const fragment of abi) if (fragment.type === 'error') seen.set(`${fragment.name}(${JSON.stringify(fragment.inputs)})`, fragment)
    }
    errorInterface = new Interface([...seen.values()])
  }
  const parsed = errorInterface.parseError(e.data)
  return parsed === null ? undefined : { name: parsed.name, args: [...parsed.args] }
}

/**
 * Asserts that `promise` (a contract call or transaction) reverts with the custom error `name`
 * and, if given, exactly `args`.
 */
export async function rejectsWith (promise: Promise<unknown>, name: string, args?: unknown[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    const revert = decodeRevert(err)
    assert.equal(revert?.name, name, `expected revert ${name}, got ${revert?.name ?? String(err)}`)
    if (args !== undefined) assert.deepEqual([...(revert?.args ?? [])], args)
    return true
  })
}

/** Decoded events named `name` emitted by `contract` in `receipt`. */
export function eventsOf (receipt: TransactionReceipt, contract: Contract, name: string): Result[] {
  const out: Result[] = []
  const address = (contract.target as string).toLowerCase()
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address) continue
    const parsed = contract.interface.parseLog(log)
    if (parsed?.name === name) out.push(parsed.args)
  }
  return out
}
