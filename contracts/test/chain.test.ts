/**
 * The chain tools the devnet and the e2e fixture reuse: startChain (a real anvil), deployAll,
 * writeDeployment / readDeployment, and the deploy CLI.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { Contract, JsonRpcProvider, Wallet, parseEther } from 'ethers'
import { deployAll, readDeployment, startChain, writeDeployment } from '../src/chain.ts'
import type { Deployment } from '@peerloom/shared'
import type { Chain } from '../src/chain.ts'
import { CONTRACTS_DIR, loadArtifacts } from '../src/compile.ts'
import type { ArtifactSet } from '../src/compile.ts'
import { CHAIN_START_TIMEOUT_MS, TOKEN } from './fixture.ts'

let artifacts: ArtifactSet
let dir: string
before(async () => {
  artifacts = await loadArtifacts()
  dir = await mkdtemp(join(tmpdir(), 'peerloom-chain-test-'))
})
after(async () => { await rm(dir, { recursive: true, force: true }) })

/** startChain with the tests' generous start-up limit. */
const start = async (options: Parameters<typeof startChain>[0] = {}): Promise<Chain> => await startChain({ timeoutMs: CHAIN_START_TIMEOUT_MS, ...options })

const providerFor = (chain: Chain): JsonRpcProvider =>
  new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50, batchMaxCount: 1 })

async function answers (rpcUrl: string): Promise<boolean> {
  try {
    const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), signal: AbortSignal.timeout(60_000) })
    return res.ok
  } catch {
    return false
  }
}

describe('startChain', () => {
  it('runs anvil on loopback with funded accounts and the pinned hardfork; stop() ends it', async () => {
    const [a, b] = await Promise.all([start(), start()])
    try {
      assert.match(a.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.notEqual(a.rpcUrl, b.rpcUrl, 'two chains get two free ports')
      const provider = providerFor(a)
      assert.equal((await provider.getNetwork()).chainId, 31337n)
      assert.equal(a.chainId, 31337)
      const info = await provider.send('anvil_nodeInfo', []) as { hardFork: string }
      assert.equal(info.hardFork.toLowerCase(), 'prague')
      assert.equal(a.accounts.length, 10)
      for (const key of a.accounts) assert.equal(await provider.getBalance(new Wallet(key).address), parseEther('10000'))
      provider.destroy()
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
    assert.equal(await answers(a.rpcUrl), false, 'the port is closed after stop()')
    await a.stop() // idempotent
  })

  it('mines on an interval with blockTime', async () => {
    const chain = await start({ blockTime: 1 })
    const provider = providerFor(chain)
    try {
      const deadline = Date.now() + 60_000
      while (await provider.getBlockNumber() < 2) {
        assert.ok(Date.now() < deadline, 'no blocks were mined')
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    } finally {
      provider.destroy()
      await chain.stop()
    }
  })

  it('a port in use is an error, not a hang', async () => {
    const chain = await start()
    try {
      const port = Number(new URL(chain.rpcUrl).port)
      await assert.rejects(start({ port }), /anvil exited/)
    } finally {
      await chain.stop()
    }
  })
})

describe('deployAll', () => {
  let chain: Chain
  let provider: JsonRpcProvider
  before(async () => {
    chain = await start()
    provider = providerFor(chain)
  })
  after(async () => {
    provider.destroy()
    await chain.stop()
  })

  it('deploys token, registry and pool, binds the pool, mints, and deploys the devnet tokens', async () => {
    const deployer = new Wallet(chain.accounts[0]!, provider)
    const publisher = new Wallet(chain.accounts[1]!).address
    const deployment = await deployAll(deployer, { artifacts, mint: [{ to: publisher, amount: 42n * TOKEN }] })
    assert.equal(deployment.chainId, 31337)
    assert.equal(deployment.deployer, deployer.address)
    assert.equal(deployment.blockNumber, await provider.getBlockNumber())
    for (const address of [deployment.token, deployment.registry, deployment.pool, deployment.pass!, deployment.badges!]) {
      assert.notEqual(await provider.getCode(address), '0x', `no code at ${address}`)
    }
    const at = (name: keyof ArtifactSet['contracts'], address: string): Contract => new Contract(address, artifacts.contracts[name].abi, provider)
    assert.equal(await at('ContentRegistry', deployment.registry).getFunction('rewardPool')(), deployment.pool)
    assert.equal(await at('ContentRegistry', deployment.registry).getFunction('token')(), deployment.token)
    assert.equal(await at('RewardPool', deployment.pool).getFunction('registry')(), deployment.registry)
    assert.equal(await at('PeerloomToken', deployment.token).getFunction('owner')(), deployer.address)
    assert.equal(await at('PeerloomToken', deployment.token).getFunction('balanceOf')(publisher), 42n * TOKEN)
    assert.equal(await at('DevnetPass', deployment.pass!).getFunction('owner')(), deployer.address)

    const bare = await deployAll(deployer, { artifacts, devnetTokens: false })
    assert.equal(bare.pass, undefined)
    assert.equal(bare.badges, undefined)
  })

  it('writeDeployment and readDeployment round-trip addresses and chain id', async () => {
    const deployment: Deployment = await deployAll(new Wallet(chain.accounts[2]!, provider), { artifacts })
    const file = join(dir, 'nested', 'deployment.json')
    await writeDeployment(file, deployment)
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), deployment)
    assert.deepEqual(await readDeployment(file), deployment)
  })

  it('the deploy CLI deploys to a running chain with its first unlocked account and writes the file', async () => {
    const out = join(dir, 'cli-deployment.json')
    const holder = new Wallet(chain.accounts[3]!).address
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/deploy.ts', '--rpc', chain.rpcUrl, '--out', out, '--mint', `${holder}=5`], { cwd: CONTRACTS_DIR })
    const written = await readDeployment(out)
    assert.deepEqual(JSON.parse(stdout), written)
    assert.equal(written.deployer, new Wallet(chain.accounts[0]!).address)
    const token = new Contract(written.token, artifacts.contracts.PeerloomToken.abi, provider)
    assert.equal(await token.getFunction('balanceOf')(holder), 5n * TOKEN)
    assert.notEqual(await provider.getCode(written.pool), '0x')
  })
})
