/**
 * A real local chain for tests and the devnet: starts anvil (from the `@foundry-rs/anvil`
 * npm package) on loopback and deploys Peerloom's contracts to it.
 *
 * @example
 * ```ts
 * import { Wallet, JsonRpcProvider } from 'ethers'
 * import { startChain, deployAll, writeDeployment } from '@peerloom/contracts'
 *
 * const chain = await startChain()
 * const deployer = new Wallet(chain.accounts[0], new JsonRpcProvider(chain.rpcUrl))
 * const deployment = await deployAll(deployer)
 * await writeDeployment('.devnet/deployment.json', deployment)
 * await chain.stop()
 * ```
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Contract, ContractFactory } from 'ethers'
import type { ContractTransactionResponse, Signer } from 'ethers'
import type { Deployment } from '@peerloom/shared'
import { loadArtifacts, writeAtomically } from './compile.ts'
import type { ArtifactSet } from './compile.ts'
import { DEFAULT_CHAIN_ID, DEFAULT_START_TIMEOUT_MS, EVM_VERSION } from './constants.ts'
import type { ContractName } from './constants.ts'

const require = createRequire(import.meta.url)

export interface StartChainOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number
  /** Seconds between blocks; without it every transaction is mined at once. */
  blockTime?: number
  /** Number of funded dev accounts. @default 10 */
  accounts?: number
  /** @default 31337 */
  chainId?: number
  /** Give up if anvil is not listening by then. @default 15000 */
  timeoutMs?: number
  /** Further anvil flags, e.g. `['--steps-tracing']` for opcode traces. */
  args?: string[]
}

export interface Chain {
  /** `http://127.0.0.1:<port>` */
  rpcUrl: string
  chainId: number
  /** Private keys of the funded dev accounts (10,000 ETH each). */
  accounts: string[]
  /** Stops anvil; the chain's state is gone. */
  stop: () => Promise<void>
}

/** Starts anvil on loopback, pinned to the hardfork the contracts are compiled for. */
export async function startChain (options: StartChainOptions = {}): Promise<Chain> {
  const chainId = options.chainId ?? DEFAULT_CHAIN_ID
  const dir = await mkdtemp(join(tmpdir(), 'peerloom-anvil-'))
  const configFile = join(dir, 'anvil.json')
  const args = [
    '--host', '127.0.0.1',
    '--port', String(options.port ?? 0),
    '--hardfork', EVM_VERSION,
    '--chain-id', String(chainId),
    '--accounts', String(options.accounts ?? 10),
    '--config-out', configFile
  ]
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime))
  args.push(...options.args ?? [])

  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  let output = ''
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })

  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`anvil did not start within ${options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms:\n${output}`)) }, options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS)
      const onData = (chunk: Buffer): void => {
        // keep only the start-up banner; afterwards anvil logs every RPC call, which we drain
        if (output.length < 64_000) output += chunk.toString()
        const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(output)
        if (match?.[1] !== undefined) {
          clearTimeout(timer)
          resolve(Number(match[1]))
        }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      child.once('error', err => { clearTimeout(timer); reject(err) })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`anvil exited with ${code}:\n${output}`)) })
    })
    const config = JSON.parse(await readFile(configFile, 'utf8')) as { private_keys: string[] }
    let stopped: Promise<void> | undefined
    const stop = async (): Promise<void> => {
      stopped ??= (async () => {
        process.off('exit', killOnExit)
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
          await exited
          clearTimeout(timer)
        }
        await rm(dir, { recursive: true, force: true })
      })()
      await stopped
    }
    return { rpcUrl: `http://127.0.0.1:${port}`, chainId, accounts: config.private_keys, stop }
  } catch (err) {
    process.off('exit', killOnExit)
    child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

/** The anvil executable shipped by the `@foundry-rs/anvil-<os>-<arch>` npm package. */
export function anvilBinary (): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string | undefined>)[process.arch]
  const name = process.platform === 'win32' ? 'anvil.exe' : 'anvil'
  if (arch !== undefined) {
    try {
      return require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/bin/${name}`)
    } catch {
      // fall back to the wrapper package's own download location
    }
  }
  const fallback = join(dirname(require.resolve('@foundry-rs/anvil/package.json')), 'dist', name)
  if (existsSync(fallback)) return fallback
  throw new Error(`no anvil binary for ${process.platform}/${process.arch}: is @foundry-rs/anvil installed?`)
}

export interface DeployOptions {
  /** Tokens (base units) to mint right after deployment, e.g. to publishers. */
  mint?: Array<{ to: string, amount: bigint }>
  /** Also deploy the devnet gating tokens (an ERC-721 pass and ERC-1155 badges). @default true */
  devnetTokens?: boolean
  /** Precompiled artifacts; loaded (and compiled if needed) when absent. */
  artifacts?: ArtifactSet
}

/**
 * Deploys token, registry and pool from `signer` (which needs a provider) and binds the pool
 * to the registry. The deployer owns the token (and the devnet tokens); the registry ends with
 * no owner.
 */
export async function deployAll (signer: Signer, options: DeployOptions = {}): Promise<Deployment> {
  const provider = signer.provider
  if (provider === null) throw new Error('deployAll needs a signer connected to a provider')
  const artifacts = options.artifacts ?? await loadArtifacts()
  const deployer = await signer.getAddress()
  const { chainId } = await provider.getNetwork()

  let blockNumber = 0
  const mined = async (tx: { wait: () => Promise<{ blockNumber: number } | null> } | null, what: string): Promise<void> => {
    const receipt = await tx?.wait()
    if (receipt === null || receipt === undefined) throw new Error(`${what} was not mined`)
    blockNumber = Math.max(blockNumber, receipt.blockNumber)
  }
  const deploy = async (name: ContractName, ...args: unknown[]): Promise<string> => {
    const { abi, bytecode } = artifacts.contracts[name]
    const contract = await new ContractFactory(abi, bytecode, signer).deploy(...args)
    await mined(contract.deploymentTransaction(), `deployment of ${name}`)
    return await contract.getAddress()
  }
  const call = async (name: ContractName, address: string, method: string, ...args: unknown[]): Promise<void> => {
    const contract = new Contract(address, artifacts.contracts[name].abi, signer)
    await mined(await contract.getFunction(method)(...args) as ContractTransactionResponse, `${name}.${method}`)
  }

  const token = await deploy('PeerloomToken', deployer)
  const registry = await deploy('ContentRegistry', token, deployer)
  const pool = await deploy('RewardPool', registry)
  await call('ContentRegistry', registry, 'bindRewardPool', pool)
  for (const { to, amount } of options.mint ?? []) await call('PeerloomToken', token, 'mint', to, amount)

  const deployment: Deployment = { chainId: Number(chainId), token, registry, pool, deployer, blockNumber }
  if (options.devnetTokens ?? true) {
    deployment.pass = await deploy('DevnetPass', deployer)
    deployment.badges = await deploy('DevnetBadges', deployer)
    deployment.blockNumber = blockNumber
  }
  return deployment
}

/** Writes a deployment (addresses and chain id) as JSON. */
export async function writeDeployment (file: string, deployment: Deployment): Promise<void> {
  await writeAtomically(file, `${JSON.stringify(deployment, null, 2)}\n`)
}

/** Reads a deployment written by {@link writeDeployment}; ConfigError when it is not one. */
export { readDeploymentFile as readDeployment } from '@peerloom/shared/deployment-file'
