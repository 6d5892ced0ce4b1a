/**
 * Token-gated rooms as an e2e fixture (docs/CALLS.md, Token-gated rooms): anvil with Peerloom's
 * contracts and the DevnetPass ERC-721, the publisher's origin with its key service (holders
 * re-checked every `holderCheckMs`), a room registered with `peerloom room create`, passes
 * minted and taken away, and what a call page's `Call` said about its state.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { Contract, Interface, JsonRpcProvider, JsonRpcSigner, Wallet } from 'ethers'
import type { InterfaceAbi } from 'ethers'
import type { BrowserContext, Page } from 'playwright-core'
import { deployAll, startChain, writeDeployment } from '@peerloom/contracts'
import type { Chain, Deployment } from '@peerloom/contracts'
import { startRelay } from './devnet.ts'
import type { Devnet, RelayProcess } from './devnet.ts'

const registryAbi = createRequire(import.meta.url)('@peerloom/shared/abi/ContentRegistry.json') as InterfaceAbi
const CLI_BIN = resolve(import.meta.dirname, '..', '..', 'relay-node', 'bin', 'peerloom.js')
const PASS_ABI = ['function mint(address) returns (uint256)', 'function transferFrom(address, address, uint256)', 'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)']
/** Gas money for an account the test moves a pass out of: 1 ETH. */
const GAS_WEI = '0xde0b6b3a7640000'

/** A chain with Peerloom's contracts (and the devnet pass), a funded publisher and its origin's key service. */
export interface GatedChain {
  chain: Chain
  provider: JsonRpcProvider
  deployment: Deployment
  deploymentFile: string
  publisher: Wallet
  /** The origin with the key service, bootstrapped to the devnet's relay. */
  origin: RelayProcess
  /** Node settings for the chain: what a profile needs to look a gated room up and verify its grant. */
  settings: { rpcUrl: string, chainId: number, rewardPool: string, contentRegistry: string }
  stop: () => Promise<void>
}

/** What `peerloom room create` prints. */
export interface CreatedRoom {
  room: string
  topic: string
  keyVersion: number
  registration: { chainId: number, publisher: string, tx: string, keyVersion: number, policy: string, budget: string, grantBytes: string }
}

/**
 * Starts anvil, deploys the contracts (the publisher gets 10^9 LOOM for budgets) and the
 * publisher's origin with its key service; `holderCheckMs` is the origin's `--holder-check-ms`.
 */
export async function startGatedChain (devnet: Devnet, options: { holderCheckMs?: number } = {}): Promise<GatedChain> {
  const chain = await startChain()
  try {
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 100 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    const publisher = new Wallet(chain.accounts[1] as string)
    const deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 10n ** 27n }] })
    const deploymentFile = join(devnet.dir, 'deployment.json')
    await writeDeployment(deploymentFile, deployment)
    const keyFile = join(devnet.dir, 'publisher.key')
    await writeFile(keyFile, publisher.privateKey, { mode: 0o600 })
    const origin = await startRelay({
      dataDir: join(devnet.dir, 'gated-origin'),
      origin: true,
      bootstrap: [devnet.relay.addr],
      args: ['--rpc', chain.rpcUrl, '--deployment', deploymentFile, '--publisher-key-file', keyFile,
        ...(options.holderCheckMs === undefined ? [] : ['--holder-check-ms', String(options.holderCheckMs)])]
    })
    return {
      chain,
      provider,
      deployment,
      deploymentFile,
      publisher,
      origin,
      settings: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, rewardPool: deployment.pool, contentRegistry: deployment.registry },
      stop: async () => { await origin.stop(); await chain.stop() }
    }
  } catch (err) {
    await chain.stop()
    throw err
  }
}

/** Registers a room in the origin with `peerloom room create`; `policy` as the CLI takes it. */
export async function createRoom (gated: GatedChain, policy: string, budget = '1000LOOM'): Promise<CreatedRoom> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI_BIN, 'room', 'create', '--policy', policy, '--budget', budget,
    '--data', gated.origin.dataDir, '--rpc', gated.chain.rpcUrl, '--deployment', gated.deploymentFile], { env: { ...process.env, PEERLOOM_PUBLISHER_KEY: gated.publisher.privateKey } })
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as CreatedRoom
}

/** Mints a DevnetPass to `to`; resolves with its token id. */
export async function mintPass (gated: GatedChain, to: string): Promise<bigint> {
  const deployer = new Wallet(gated.chain.accounts[0] as string, gated.provider)
  const pass = new Contract(gated.deployment.pass as string, PASS_ABI, deployer)
  const receipt = await (await pass.getFunction('mint')(to)).wait() as { logs: Array<{ topics: string[], data: string }> }
  const events = new Interface(PASS_ABI)
  for (const log of receipt.logs) {
    const parsed = events.parseLog(log)
    if (parsed?.name === 'Transfer') return parsed.args.tokenId as bigint
  }
  throw new Error(`minting a pass to ${to} logged no Transfer`)
}

/**
 * Moves pass `tokenId` from `from` to `to` with `transferFrom`, sent as `from` (anvil
 * impersonates the account: it is a browser node's key, which the test does not hold).
 */
export async function transferPass (gated: GatedChain, from: string, to: string, tokenId: bigint): Promise<void> {
  const { provider } = gated
  await provider.send('anvil_setBalance', [from, GAS_WEI])
  await provider.send('anvil_impersonateAccount', [from])
  try {
    const pass = new Contract(gated.deployment.pass as string, PASS_ABI, new JsonRpcSigner(provider, from))
    const receipt = await (await pass.getFunction('transferFrom')(from, to, tokenId)).wait() as { status: number } | null
    if (receipt?.status !== 1) throw new Error(`transferFrom of pass ${tokenId} from ${from} failed`)
  } finally {
    await provider.send('anvil_stopImpersonatingAccount', [from])
  }
}

/** The key version the ContentRegistry holds for `room`. */
export async function keyVersionOnChain (gated: GatedChain, room: string): Promise<number> {
  const registry = new Contract(gated.deployment.registry, registryAbi, gated.provider)
  return Number((await registry.getFunction('content')(room) as { keyVersion: bigint }).keyVersion)
}

/** A `state` event of a page's Call: the state, and the code and reason of an ending. */
export interface CallStateEvent { state: string, code?: number, reason?: string }

/**
 * From now on keeps every `state` event a Call dispatches in `page` (the demo page shows an
 * ended call as idle, without the code): `callStates` reads them.
 */
export async function recordCallStates (page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { peerloomCallStates?: unknown[] }
    if (w.peerloomCallStates !== undefined) return
    const seen: unknown[] = []
    w.peerloomCallStates = seen
    const dispatch = EventTarget.prototype.dispatchEvent
    EventTarget.prototype.dispatchEvent = function (event: Event): boolean {
      const detail = (event as CustomEvent<{ state?: unknown }>).detail
      if (event.type === 'state' && typeof detail?.state === 'string') seen.push({ ...detail })
      return dispatch.call(this, event)
    }
  })
}

/** The `state` events recorded in `page` so far, oldest first. */
export async function callStates (page: Page): Promise<CallStateEvent[]> {
  return await page.evaluate(() => (window as unknown as { peerloomCallStates?: CallStateEvent[] }).peerloomCallStates ?? [])
}

/** Keeps `page`'s console lines (with the profile's name and the time) in `lines`, for a failed test's attachment. */
export function keepConsole (page: Page, name: string, lines: string[]): void {
  page.on('console', message => { lines.push(`${new Date().toISOString()} ${name} ${message.type()}: ${message.text()}`) })
  page.on('pageerror', err => { lines.push(`${new Date().toISOString()} ${name} pageerror: ${err.message}`) })
}

/**
 * In every page `profile` opens from now on, keeps a line per RTCPeerConnection event (created,
 * signalling, ICE and connection states, tracks): `rtcLog` reads them. For a failed test's attachment.
 */
export async function probeConnections (context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const lines: string[] = []
    ;(window as unknown as { peerloomRtcLog: string[] }).peerloomRtcLog = lines
    const Native = window.RTCPeerConnection
    let count = 0
    const Probed = function (this: RTCPeerConnection, ...args: ConstructorParameters<typeof RTCPeerConnection>) {
      const pc = new Native(...args)
      const id = ++count
      const note = (what: string): void => { lines.push(`${new Date().toISOString()} pc${id} ${what}`) }
      note('created')
      pc.addEventListener('signalingstatechange', () => { note(`signaling ${pc.signalingState}`) })
      pc.addEventListener('iceconnectionstatechange', () => { note(`ice ${pc.iceConnectionState}`) })
      pc.addEventListener('connectionstatechange', () => { note(`connection ${pc.connectionState}`) })
      pc.addEventListener('track', event => { note(`track ${event.track.kind} ${event.track.readyState}`) })
      return pc
    } as unknown as typeof RTCPeerConnection
    Probed.prototype = Native.prototype
    Object.setPrototypeOf(Probed, Native)
    window.RTCPeerConnection = Probed
  })
}

/** What `probeConnections` noted in `page`. */
export async function rtcLog (page: Page): Promise<string[]> {
  return await page.evaluate(() => (window as unknown as { peerloomRtcLog?: string[] }).peerloomRtcLog ?? [])
}
