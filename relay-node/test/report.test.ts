/**
 * The publisher's offload report on a real origin process and a real anvil chain: the origin
 * counts the block bytes its gateway serves per content (and keeps them across a restart), the
 * peers' bytes are what RewardPool claims paid for that content, and `GET /api/v1/report/…` and
 * `peerloom report` put the two side by side.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CarBlockIterator } from '@ipld/car/iterator'
import { Contract, JsonRpcProvider, Wallet } from 'ethers'
import type { ContractTransactionResponse } from 'ethers'
import { buildClaim, deployAll, loadArtifacts, startChain, writeDeployment } from '@peerloom/contracts'
import type { Chain, Deployment } from '@peerloom/contracts'
import { decodeManifest, peerloomDomain, randomBytes, signGrant, signReceipt } from '@peerloom/shared'
import poolAbi from '@peerloom/shared/abi/RewardPool.json' with { type: 'json' }
import { PEERLOOM_BIN, removeDir, runCli, startRelay, tempDir } from './helpers.ts'
import type { RunningRelay } from './helpers.ts'
import type { OffloadReport as Report } from '../src/origin/report.ts'

/** Reads the whole content from the gateway as a viewer falling back to the origin does; resolves with the block bytes received. */
async function readThroughGateway (http: string, manifest: string): Promise<number> {
  const raw = await fetch(`${http}/ipfs/${manifest}?format=raw`)
  assert.equal(raw.status, 200)
  const manifestBytes = new Uint8Array(await raw.arrayBuffer())
  let bytes = manifestBytes.length
  const car = await fetch(`${http}/ipfs/${decodeManifest(manifestBytes).root.toString()}?format=car`)
  for await (const block of await CarBlockIterator.fromBytes(new Uint8Array(await car.arrayBuffer()))) bytes += block.bytes.length
  return bytes
}

describe('offload report', () => {
  let chain: Chain
  let deployment: Deployment
  let provider: JsonRpcProvider
  let publisher: Wallet
  let server: Wallet
  let origin: RunningRelay
  let work: string
  let dataDir: string
  let deploymentFile: string
  let originArgs: string[]
  let published: { link: string, manifest: string, contentId: string }
  let served = 0

  const report = async (id: string): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${origin.http}/api/v1/report/${encodeURIComponent(id)}`)
    return { status: res.status, body: await res.json() }
  }

  /** A peer claims `bytes` delivered to one viewer in `epoch`, with the publisher's grant. */
  const claim = async (epoch: bigint, bytes: bigint): Promise<void> => {
    const domain = peerloomDomain(chain.chainId, deployment.pool)
    const client = Wallet.createRandom()
    const receipt = { server: server.address, client: client.address, contentId: published.contentId, epoch, bytes }
    const grant = { client: client.address, contentId: published.contentId, maxBytes: bytes * 2n, expiry: BigInt(Math.floor(Date.now() / 1000) + 86_400) }
    const [signature, grantSignature] = await Promise.all([signReceipt(client, domain, receipt), signGrant(publisher, domain, grant)])
    const { claims } = buildClaim([{ receipt, signature, grant, grantSignature }])
    const pool = new Contract(deployment.pool, poolAbi, server)
    const tx = await pool.getFunction('claim')(epoch, server.address, claims) as ContractTransactionResponse
    assert.equal((await tx.wait())?.status, 1)
  }

  before(async () => {
    await loadArtifacts()
    chain = await startChain()
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 50 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    publisher = new Wallet(chain.accounts[1] as string, provider)
    server = new Wallet(chain.accounts[2] as string, provider)
    deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 10n ** 24n }], devnetTokens: false })
    work = await tempDir('peerloom-report-test-')
    dataDir = join(work, 'origin')
    deploymentFile = join(work, 'deployment.json')
    await writeDeployment(deploymentFile, deployment)
    await writeFile(join(work, 'talk.webm'), randomBytes(400_000))
    await writeFile(join(work, 'publisher.key'), publisher.privateKey)
    originArgs = ['--origin', '--rpc', chain.rpcUrl, '--deployment', deploymentFile, '--publisher-key-file', join(work, 'publisher.key')]
    origin = await startRelay(originArgs, { data: dataDir })
    const cli = await runCli(PEERLOOM_BIN, ['publish', join(work, 'talk.webm'), '--data', dataDir, '--quiet', '--chunk-size', '64KiB', '--name', 'Launch talk',
      '--rpc', chain.rpcUrl, '--deployment', deploymentFile, '--rate', '1', '--budget', '100000000'], { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })
    assert.equal(cli.code, 0, cli.stderr)
    published = JSON.parse(cli.stdout) as typeof published
  })

  after(async () => {
    await origin?.stop()
    await chain?.stop()
    if (work !== undefined) await removeDir(work)
  })

  it('starts at zero: nothing served, nothing claimed', async () => {
    const { status, body } = await report(published.contentId)
    assert.equal(status, 200, JSON.stringify(body))
    assert.deepEqual({ ...body, since: undefined }, {
      contentId: published.contentId, name: 'Launch talk', manifests: [published.manifest], originBytes: 0, peerBytes: 0, peerClaims: 0, offloadRatio: null, since: undefined
    })
    assert.ok(Date.parse(body.since) <= Date.now())
  })

  it('counts the block bytes the gateway serves for the content, found by content id or manifest CID', async () => {
    served += await readThroughGateway(origin.http, published.manifest)
    served += await readThroughGateway(origin.http, published.manifest)
    assert.ok(served > 800_000, `two full reads (${served} bytes)`)
    const head = await fetch(`${origin.http}/ipfs/${published.manifest}?format=raw`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    const byId = await report(published.contentId)
    assert.equal(byId.body.originBytes, served, 'every block byte sent, HEAD not counted')
    const byManifest = await report(published.manifest)
    assert.deepEqual(byManifest.body, byId.body)
  })

  it('adds the bytes peers claimed on chain, and the offload ratio', async () => {
    await claim(1n, 3_000_000n)
    await claim(2n, 1_000_000n)
    const { body } = await report(published.contentId) as { body: Report }
    assert.equal(body.peerBytes, 4_000_000)
    assert.equal(body.peerClaims, 2)
    assert.equal(body.originBytes, served)
    assert.equal(body.offloadRatio, 4_000_000 / (4_000_000 + served))
  })

  it('peerloom report prints the table from a link, and the same JSON with --json', async () => {
    const json = await runCli(PEERLOOM_BIN, ['report', published.link, '--data', dataDir, '--json'])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(JSON.parse(json.stdout), (await report(published.contentId)).body)
    const table = await runCli(PEERLOOM_BIN, ['report', published.contentId, '--origin', origin.http])
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /"Launch talk" 0x[0-9a-f]{64}/)
    assert.match(table.stdout, /from peers\s+3\.8 MiB\s+\d+\.\d %\s+claimed on chain in 2 claims/)
    assert.match(table.stdout, /from origin\s+[\d.]+ KiB\s+\d+\.\d %\s+served by the origin since \d{4}-\d\d-\d\d \d\d:\d\d UTC/)
    assert.match(table.stdout, /offload ratio: \d+\.\d % carried by peers/)
    assert.match(table.stdout, /claimed on chain .*deliveries not claimed yet appear after the next claim/)
  })

  it('keeps the origin bytes across a restart, and reports from the data directory while it is down', async () => {
    assert.equal((await origin.stop()).code, 0, origin.stderr())
    const offline = await runCli(PEERLOOM_BIN, ['report', published.manifest, '--data', dataDir, '--json', '--rpc', chain.rpcUrl, '--deployment', deploymentFile])
    assert.equal(offline.code, 0, offline.stderr)
    const down = JSON.parse(offline.stdout) as Report
    assert.equal(down.originBytes, served)
    assert.equal(down.peerBytes, 4_000_000)
    const noChain = JSON.parse((await runCli(PEERLOOM_BIN, ['report', published.manifest, '--data', dataDir, '--json'])).stdout) as Report
    assert.equal(noChain.peerBytes, null)
    assert.match(noChain.peerBytesUnavailable ?? '', /pass --rpc and --deployment/)

    origin = await startRelay(originArgs, { data: dataDir })
    const { body } = await report(published.contentId)
    assert.equal(body.originBytes, served, 'counted before the restart')
    served += await readThroughGateway(origin.http, published.manifest)
    assert.equal((await report(published.contentId)).body.originBytes, served, 'and counting on')
  })

  it('answers unknown content with 404 and a malformed id with 400; the CLI says what it takes', async () => {
    const unknown = await report(`0x${'ab'.repeat(32)}`)
    assert.equal(unknown.status, 404)
    assert.match(unknown.body.error.message, /this origin has not published content 0xabab/)
    const bad = await report('film')
    assert.equal(bad.status, 400)
    assert.match(bad.body.error.message, /neither a peerloom:\/\/ link, a manifest CID nor a content id/)
    const cli = await runCli(PEERLOOM_BIN, ['report', 'film', '--origin', origin.http])
    assert.equal(cli.code, 2)
    assert.match(cli.stderr, /peerloom report: the origin at .*: "film" is neither .*\[InvalidParamsError 5000\]/)
    const typo = await runCli(PEERLOOM_BIN, ['report', published.contentId, '--orign', origin.http])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /unknown option --orign \(did you mean --origin\?\)/)
    const wrongDir = await runCli(PEERLOOM_BIN, ['report', published.contentId, '--data', join(work, 'orgin')])
    assert.equal(wrongDir.code, 2)
    assert.match(wrongDir.stderr, /--data .*orgin: no such directory/)
  })
})
