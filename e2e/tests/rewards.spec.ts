/**
 * Rewards end to end on a real anvil chain: a publisher registers gated content (a DevnetPass
 * ERC-721 policy) with a budget; donor A, holding a pass, gets the key from the origin's key
 * service and fetches the content; viewer B is refused with the reason until it holds a pass,
 * then fetches the content through the page API from A alone (B asks the origin for the key,
 * never for a block) and plays it; B's receipts reach A, A claims them at the end of a short epoch, and A's
 * token balance rises by exactly bytes × rate; sending the same claim again pays nothing.
 * After a key rotation, a new viewer opening the old link gets the new key and manifest.
 * Second test: the donor's chain RPC (a loopback TCP proxy in front of anvil) goes away at claim
 * time; the claim fails with a coded status, the receipts are kept across a browser restart, and
 * once the proxy is back they are paid exactly once.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Contract, JsonRpcProvider, Wallet } from 'ethers'
import type { Chain, Deployment } from '@peerloom/contracts'
import { test, expect } from '../src/fixtures.ts'
import { startGatedChain } from '../src/gated-room.ts'
import type { Devnet, RelayProcess } from '../src/devnet.ts'
import type { Profile } from '../src/profile.ts'
import { startRpcProxy } from '../src/rpc-proxy.ts'
import { DEMO_VIDEO, connectAnswering, openSite, sha256 } from '../src/page-api.ts'
import { startDemoSite } from '../demo-site/server.ts'

const CLI_BIN = resolve(import.meta.dirname, '..', '..', 'relay-node', 'bin', 'peerloom.js')
const RATE = 1_000_000_000n // token base units per byte
const EPOCH_SECONDS = 4

interface Earnings {
  pending: { bytes: string, receipts: number }
  submitted: Array<{ txHash: string }>
  paid: Array<{ epoch: string, paid: string, claimedBytes?: string, txHash?: string }>
  totalPaid: string
  lastError?: string
  claim: { state: string, code?: number, reason?: string, message?: string, failures: number, nextAttemptAt?: number, kept: { epochs: number, receipts: number, bytes: string } }
}

async function cli (args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`peerloom ${args[0] ?? ''} failed (${code}): ${err.slice(-2000)}`)
  return out
}

/** Reads `link` through window.peerloom in the page; resolves with its size and SHA-256, or the error. */
async function fetchInPage (page: import('playwright-core').Page, link: string): Promise<{ size?: number, sha256?: string, error?: { code?: number, message: string } }> {
  return await page.evaluate(async link => {
    try {
      const response = await window.peerloom!.fetch(link)
      const bytes = new Uint8Array(await response.arrayBuffer())
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
      return { size: bytes.length, sha256: [...digest].map(b => b.toString(16).padStart(2, '0')).join('') }
    } catch (err) {
      const e = err as { code?: number, message: string }
      return { error: { code: e.code, message: e.message } }
    }
  }, link)
}

/** A chain with Peerloom's contracts, a publisher's origin with its key service, and gated content on it. */
interface Gated {
  chain: Chain
  provider: JsonRpcProvider
  deployment: Deployment
  deploymentFile: string
  publisher: Wallet
  pass: Contract
  token: Contract
  origin: RelayProcess
  file: Buffer
  printed: { link: string, root: string, contentId: string, registration: { tx: string, keyVersion: number } }
  stop: () => Promise<void>
}

/** Starts anvil, deploys, starts the publisher's origin (key service included) and publishes the demo video gated by a DevnetPass. */
async function startGated (devnet: Devnet): Promise<Gated> {
  const { chain, provider, deployment, deploymentFile, publisher, origin, stop } = await startGatedChain(devnet)
  try {
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    const pass = new Contract(deployment.pass as string, ['function mint(address) returns (uint256)'], deployer)
    const token = new Contract(deployment.token, ['function balanceOf(address) view returns (uint256)'], provider)
    const file = await readFile(DEMO_VIDEO)
    const printed = JSON.parse((await cli(['publish', DEMO_VIDEO, '--data', origin.dataDir, '--quiet', '--name', 'Members-only video', '--mime', 'video/webm',
      '--gated', '--policy', `erc721:${deployment.pass as string}`, '--rate', RATE.toString(), '--budget', '1000LOOM', '--rpc', chain.rpcUrl, '--deployment', deploymentFile],
    { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })).trim().split('\n').at(-1) as string) as Gated['printed']
    return { chain, provider, deployment, deploymentFile, publisher, pass, token, origin, file, printed, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Waits until the relay lists `peerId`, with a WebRTC address, as a provider of every CID (B dials that address). */
async function waitListed (viewer: Profile, relayHttp: string, peerId: string, cids: string[]): Promise<void> {
  await viewer.waitFor(async () => {
    for (const cid of cids) {
      const response = await fetch(`${relayHttp}/routing/v1/providers/${cid}`)
      if (!response.ok) return false
      const { Providers: providers } = await response.json() as { Providers?: Array<{ ID: string, Addrs?: string[] }> }
      if (!(providers ?? []).some(p => p.ID === peerId && (p.Addrs ?? []).some(addr => addr.includes('/webrtc')))) return false
    }
    return true
  }, 60_000, 'the relay to list A, with its WebRTC address, as a provider')
}

/** Waits until `server` accepted receipts for every verified byte `viewer` got from it; resolves with those bytes. */
async function waitReceipted (viewer: Profile, server: string, moreThan: number): Promise<bigint> {
  let bytes = 0n
  await viewer.waitFor(async () => {
    const { receipts } = await viewer.call<{ receipts: Array<{ server: string, delivered: string, accepted: string }> }>('flushReceipts')
    const forServer = receipts.filter(r => r.server === server)
    bytes = forServer.reduce((sum, r) => sum + BigInt(r.accepted), 0n)
    return forServer.length === 1 && forServer[0]?.accepted === forServer[0]?.delivered && bytes > BigInt(moreThan)
  }, 60_000, 'A to accept receipts for everything B got from it')
  return bytes
}

/** Sends `txHash`'s calldata to the pool again from `from`'s account: it must not be paid (reverted or refused). */
async function resendFails (provider: JsonRpcProvider, from: string, to: string, txHash: string): Promise<void> {
  const claimTx = await provider.getTransaction(txHash)
  await provider.send('anvil_impersonateAccount', [from])
  const again = await provider.send('eth_sendTransaction', [{ from, to, data: claimTx?.data, gas: '0x200000' }]).catch((err: Error) => err)
  if (typeof again === 'string') expect((await provider.waitForTransaction(again))?.status).toBe(0)
  else expect(again.message).toMatch(/EpochAlreadySettled|revert/)
  await provider.send('anvil_stopImpersonatingAccount', [from])
}

test('rewards: gated content fetched from a donor through the page API; the donor is paid exactly bytes × rate, once', async ({ devnet, launch }, testInfo) => {
  const { chain, provider, deployment, deploymentFile, publisher, pass, token, origin, file, printed, stop } = await startGated(devnet)
  try {
    expect(printed.link).toMatch(/^peerloom:\/\/b[a-z2-7]+$/)
    expect(printed.registration.keyVersion).toBe(1)

    const chainSettings = { rpcUrl: chain.rpcUrl, chainId: chain.chainId, rewardPool: deployment.pool, contentRegistry: deployment.registry, epochSeconds: EPOCH_SECONDS }
    // donor A: holds a pass, has gas for its claims, fetches from the origin and shares
    const a = await launch('a', { donate: true, relays: [devnet.relay.addr, origin.addr], routers: [devnet.relay.http, origin.http], gateways: [origin.http], ...chainSettings })
    const aStatus = await a.waitReachable()
    const aAddress = aStatus.address as string
    await (await pass.getFunction('mint')(aAddress)).wait()
    await provider.send('anvil_setBalance', [aAddress, '0x56bc75e2d63100000'])
    const first = await a.fetchAll(printed.link)
    expect(first.error).toBeUndefined()
    expect(first.sha256).toBe(sha256(file))

    // viewer B: no gateway (every block must come from a peer), only the origin's key service
    const b = await launch('b', { relays: [devnet.relay.addr], routers: [devnet.relay.http], gateways: [], keyServices: [origin.http], ...chainSettings })
    const bStatus = await b.waitReachable()
    // the site's own fallback (without the extension) would be the origin; B has the extension
    const site = await startDemoSite({ gateways: [origin.http], content: [{ title: 'Members only', link: printed.link, mime: 'video/webm', size: file.length, sha256: sha256(file) }], host: '127.0.0.1' })
    try {
      const page = await openSite(b, site.url)
      expect((await connectAnswering(b, page, 'allow')).peerId).toBe(bStatus.peerId)

      // B has no gateway: the manifest and every block come from A, once the relay lists A (with
      // the WebRTC address B dials) as their provider
      await waitListed(b, devnet.relay.http, aStatus.peerId as string, [printed.link.slice('peerloom://'.length), printed.root])

      // without a pass: refused, and the page learns why
      const refused = await fetchInPage(page, printed.link)
      expect(refused.error?.code, refused.error?.message).toBe(5011)
      expect(refused.error?.message).toBe(`needs at least 1 DevnetPass (ERC-721 ${deployment.pass as string}); ${bStatus.address as string} holds 0`)

      // with a pass: the content, entirely from A
      await (await pass.getFunction('mint')(bStatus.address)).wait()
      // it plays in the page's player frame (the site's SDK picks up the connection on a reload)
      await page.reload()
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'true')
      await page.locator(`tr[data-link="${printed.link}"]`).getByRole('button', { name: 'Play' }).click()
      const playerFrame = (): import('playwright-core').Frame | undefined => page.frames().find(f => f.url().includes('/player.html'))
      await expect(page.locator('#player iframe[data-peerloom-player]')).toHaveCount(1)
      await expect.poll(() => playerFrame() !== undefined, { timeout: 60_000 }).toBe(true)
      const videoTime = async (): Promise<number> => await playerFrame()!.evaluate(() => document.querySelector('video')?.currentTime ?? 0)
      await expect.poll(videoTime, { timeout: 60_000 }).toBeGreaterThan(1)
      expect(await playerFrame()!.evaluate(() => document.querySelector('video')?.error?.code ?? null)).toBeNull()
      // and reads back byte for byte
      const fetched = await fetchInPage(page, printed.link)
      expect(fetched.error).toBeUndefined()
      expect(fetched.size).toBe(file.length)
      expect(fetched.sha256).toBe(sha256(file))

      // B's receipts for A: every verified byte from A, accepted by A
      const bytesFromA = await waitReceipted(b, aAddress, file.length)
      const received = (await b.status()).received
      expect(received.fromOrigin).toBe(0)
      expect(BigInt(received.fromPeers)).toBe(bytesFromA)

      // A claims at the end of its short epoch, on its own; its balance rises by exactly bytes × rate
      let earnings: Earnings | undefined
      await a.waitFor(async () => {
        earnings = await a.call<Earnings>('earnings')
        const claimed = earnings.paid.reduce((sum, p) => sum + BigInt(p.claimedBytes ?? '0'), 0n)
        return earnings.pending.receipts === 0 && earnings.submitted.length === 0 && claimed === bytesFromA
      }, 90_000, 'A to claim every receipted byte', 500)
      const balance = await token.getFunction('balanceOf')(aAddress) as bigint
      expect(balance).toBe(bytesFromA * RATE)
      expect(BigInt(earnings?.totalPaid ?? '0')).toBe(bytesFromA * RATE)
      for (const paid of earnings?.paid ?? []) expect(paid.txHash).toMatch(/^0x[0-9a-f]{64}$/)

      // the same batch again, from A's account: refused, nothing more paid
      await resendFails(provider, aAddress, deployment.pool, earnings?.paid[0]?.txHash as string)
      expect(await token.getFunction('balanceOf')(aAddress)).toBe(balance)

      // A's popup shows what was paid, with the transaction
      await expect(a.page.getByTestId('earnings-paid').first()).toContainText(shortHash(earnings?.paid[0]?.txHash as string))
      const shot = testInfo.outputPath('popup-a-earnings.png')
      await a.page.screenshot({ path: shot, fullPage: true })
      await testInfo.attach('popup', { path: shot, contentType: 'image/png' })

      // rotation: the publisher re-keys the content; a new viewer opening the old link is granted
      // the new key version and opens the new manifest
      const rotated = JSON.parse((await cli(['publish', DEMO_VIDEO, '--data', origin.dataDir, '--quiet', '--name', 'Members-only video', '--mime', 'video/webm',
        '--rotate', '--content-id', printed.contentId, '--rpc', chain.rpcUrl, '--deployment', deploymentFile],
      { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })).trim().split('\n').at(-1) as string) as { manifest: string, registration: { keyVersion: number } }
      expect(rotated.registration.keyVersion).toBe(2)
      const c = await launch('c', { relays: [devnet.relay.addr, origin.addr], routers: [devnet.relay.http, origin.http], gateways: [origin.http], ...chainSettings })
      await (await pass.getFunction('mint')((await c.status()).address)).wait()
      const viaOldLink = await c.fetchAll(printed.link)
      expect(viaOldLink.error).toBeUndefined()
      expect(viaOldLink.sha256).toBe(sha256(file))
      const opened = await c.call<Array<{ manifest: string }>>('contents')
      expect(opened.map(record => record.manifest)).toEqual([rotated.manifest])
    } finally {
      await site.stop()
    }
  } finally {
    await stop()
  }
})

test('rewards: the donor\'s chain RPC goes away at claim time; its receipts are kept across a restart and paid exactly once when the chain is back', async ({ devnet, launch }, testInfo) => {
  test.setTimeout(240_000)
  const { chain, provider, deployment, pass, token, origin, file, printed, stop } = await startGated(devnet)
  // A reaches the chain only through this proxy: closing it refuses A's connections, anvil runs on
  const proxy = await startRpcProxy(chain.rpcUrl)
  try {
    const chainSettings = { chainId: chain.chainId, rewardPool: deployment.pool, contentRegistry: deployment.registry }
    // an hour-long epoch: it closes only when the test asks for the claim ("Claim now")
    const a = await launch('a', { donate: true, relays: [devnet.relay.addr, origin.addr], routers: [devnet.relay.http, origin.http], gateways: [origin.http], ...chainSettings, rpcUrl: proxy.url, epochSeconds: 3600 })
    const aStatus = await a.waitReachable()
    const aAddress = aStatus.address as string
    await (await pass.getFunction('mint')(aAddress)).wait()
    await provider.send('anvil_setBalance', [aAddress, '0x56bc75e2d63100000'])
    expect((await a.fetchAll(printed.link)).sha256).toBe(sha256(file))

    const b = await launch('b', { relays: [devnet.relay.addr], routers: [devnet.relay.http], gateways: [], keyServices: [origin.http], ...chainSettings, rpcUrl: chain.rpcUrl })
    const bStatus = await b.waitReachable()
    await (await pass.getFunction('mint')(bStatus.address)).wait()
    await waitListed(b, devnet.relay.http, aStatus.peerId as string, [printed.link.slice('peerloom://'.length), printed.root])
    const fetched = await b.fetchAll(printed.link)
    expect(fetched.error).toBeUndefined()
    expect(fetched.sha256).toBe(sha256(file))
    const bytesFromA = await waitReceipted(b, aAddress, file.length)
    await b.close()
    const kept = { epochs: 1, receipts: 1, bytes: bytesFromA.toString() }

    // the chain goes away; Claim now closes the epoch and fails with the coded status, keeping the receipts
    await proxy.close()
    const failed = await a.call<Earnings>('claimRewards')
    expect(failed.claim).toMatchObject({ state: 'retrying', code: 5012, reason: 'unreachable', failures: 1, kept })
    expect(failed.claim.message).toMatch(new RegExp(`^chain unreachable at ${proxy.url} \\(.+\\); 1 epoch of receipts kept, retry in [1-5] s$`))
    expect(failed.lastError).toBe(failed.claim.message)
    expect(failed.pending).toEqual({ bytes: bytesFromA.toString(), receipts: 1, epochs: 1 })
    expect(failed.paid).toEqual([])
    expect(await token.getFunction('balanceOf')(aAddress)).toBe(0n)
    // A's popup says so
    await expect(a.page.getByTestId('earnings')).toContainText(`chain unreachable at ${proxy.url}`)
    const shot = testInfo.outputPath('popup-a-chain-unreachable.png')
    await a.page.screenshot({ path: shot, fullPage: true })
    await testInfo.attach('popup, chain unreachable', { path: shot, contentType: 'image/png' })

    // the claimer retries on its own, backing off, and keeps everything
    const earnings = async (): Promise<Earnings> => await a.call<Earnings>('earnings')
    await expect.poll(async () => (await earnings()).claim.failures, { timeout: 60_000 }).toBeGreaterThanOrEqual(2)
    expect((await earnings()).claim.kept).toEqual(kept)

    // the browser restarts while the chain is still down: the receipts are in IndexedDB, the claim fails again
    await a.close()
    await a.open()
    await expect.poll(async () => (await earnings()).claim.state, { timeout: 60_000 }).toBe('retrying')
    const restarted = await earnings()
    expect(restarted.claim).toMatchObject({ code: 5012, reason: 'unreachable', kept })
    expect(restarted.pending).toEqual({ bytes: bytesFromA.toString(), receipts: 1, epochs: 1 })
    expect(await token.getFunction('balanceOf')(aAddress)).toBe(0n)

    // the chain is back: the next retry claims the kept receipts; A is paid bytes × rate
    const acceptedBefore = proxy.accepted
    await proxy.open()
    await expect.poll(async () => (await earnings()).paid.length, { timeout: 60_000 }).toBe(1)
    expect(proxy.accepted).toBeGreaterThan(acceptedBefore)
    const paid = await earnings()
    expect(paid.claim).toMatchObject({ state: 'ok', failures: 0, kept: { epochs: 0, receipts: 0, bytes: '0' } })
    expect(paid.lastError).toBeUndefined()
    expect(paid.pending.receipts).toBe(0)
    expect(paid.paid[0]?.claimedBytes).toBe(bytesFromA.toString())
    expect(paid.paid[0]?.paid).toBe((bytesFromA * RATE).toString())
    expect(paid.paid[0]?.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    const balance = await token.getFunction('balanceOf')(aAddress) as bigint
    expect(balance).toBe(bytesFromA * RATE)

    // nothing is paid twice: Claim now again, and the same claim sent straight to the pool
    const again = await a.call<Earnings>('claimRewards')
    expect(again.paid.length).toBe(1)
    expect(again.totalPaid).toBe((bytesFromA * RATE).toString())
    await resendFails(provider, aAddress, deployment.pool, paid.paid[0]?.txHash as string)
    expect(await token.getFunction('balanceOf')(aAddress)).toBe(balance)
  } finally {
    await proxy.close()
    await stop()
  }
})

function shortHash (hash: string): string {
  return `${hash.slice(0, 6)}…${hash.slice(-6)}`
}
