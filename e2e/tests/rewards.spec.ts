/**
 * Rewards end to end on a real anvil chain: a publisher registers gated content (a DevnetPass
 * ERC-721 policy) with a budget; donor A, holding a pass, gets the key from the origin's key
 * service and fetches the content; viewer B is refused with the reason until it holds a pass,
 * then fetches the content through the page API from A alone (B asks the origin for the key,
 * never for a block) and plays it; B's receipts reach A, A claims them at the end of a short epoch, and A's
 * token balance rises by exactly bytes × rate; sending the same claim again pays nothing.
 * After a key rotation, a new viewer opening the old link gets the new key and manifest.
 */
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Contract, JsonRpcProvider, Wallet } from 'ethers'
import { deployAll, startChain, writeDeployment } from '@peerloom/contracts'
import { test, expect } from '../src/fixtures.ts'
import { startRelay } from '../src/devnet.ts'
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

test('rewards: gated content fetched from a donor through the page API; the donor is paid exactly bytes × rate, once', async ({ devnet, launch }, testInfo) => {
  const chain = await startChain()
  try {
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 100 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    const publisher = new Wallet(chain.accounts[1] as string)
    const deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 10n ** 27n }] })
    const deploymentFile = join(devnet.dir, 'deployment.json')
    await writeDeployment(deploymentFile, deployment)
    const pass = new Contract(deployment.pass as string, ['function mint(address) returns (uint256)'], deployer)
    const token = new Contract(deployment.token, ['function balanceOf(address) view returns (uint256)'], provider)

    // the publisher's origin: content and the key service, joined to the devnet's relay
    await writeFile(join(devnet.dir, 'publisher.key'), publisher.privateKey, { mode: 0o600 })
    const origin = await startRelay({
      dataDir: join(devnet.dir, 'gated-origin'),
      origin: true,
      bootstrap: [devnet.relay.addr],
      args: ['--rpc', chain.rpcUrl, '--deployment', deploymentFile, '--publisher-key-file', join(devnet.dir, 'publisher.key')]
    })
    try {
      const file = await readFile(DEMO_VIDEO)
      const printed = JSON.parse((await cli(['publish', DEMO_VIDEO, '--data', origin.dataDir, '--quiet', '--name', 'Members-only video', '--mime', 'video/webm',
        '--gated', '--policy', `erc721:${deployment.pass as string}`, '--rate', RATE.toString(), '--budget', '1000LOOM', '--rpc', chain.rpcUrl, '--deployment', deploymentFile],
      { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })).trim().split('\n').at(-1) as string) as { link: string, root: string, contentId: string, registration: { tx: string, keyVersion: number } }
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
        const manifestCid = printed.link.slice('peerloom://'.length)
        await b.waitFor(async () => {
          for (const cid of [manifestCid, printed.root]) {
            const response = await fetch(`${devnet.relay.http}/routing/v1/providers/${cid}`)
            if (!response.ok) return false
            const { Providers: providers } = await response.json() as { Providers?: Array<{ ID: string, Addrs?: string[] }> }
            if (!(providers ?? []).some(p => p.ID === aStatus.peerId && (p.Addrs ?? []).some(addr => addr.includes('/webrtc')))) return false
          }
          return true
        }, 30_000, 'the relay to list A, with its WebRTC address, as a provider')

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
        await expect.poll(() => playerFrame() !== undefined, { timeout: 15_000 }).toBe(true)
        const videoTime = async (): Promise<number> => await playerFrame()!.evaluate(() => document.querySelector('video')?.currentTime ?? 0)
        await expect.poll(videoTime, { timeout: 20_000 }).toBeGreaterThan(1)
        expect(await playerFrame()!.evaluate(() => document.querySelector('video')?.error?.code ?? null)).toBeNull()
        // and reads back byte for byte
        const fetched = await fetchInPage(page, printed.link)
        expect(fetched.error).toBeUndefined()
        expect(fetched.size).toBe(file.length)
        expect(fetched.sha256).toBe(sha256(file))

        // B's receipts for A: every verified byte from A, accepted by A
        let bytesFromA = 0n
        await b.waitFor(async () => {
          const { receipts } = await b.call<{ receipts: Array<{ server: string, delivered: string, accepted: string }> }>('flushReceipts')
          const forA = receipts.filter(r => r.server === aAddress)
          bytesFromA = forA.reduce((sum, r) => sum + BigInt(r.accepted), 0n)
          return forA.length === 1 && forA[0]?.accepted === forA[0]?.delivered && bytesFromA > BigInt(file.length)
        }, 20_000, 'A to accept receipts for everything B got from it')
        const received = (await b.status()).received
        expect(received.fromOrigin).toBe(0)
        expect(BigInt(received.fromPeers)).toBe(bytesFromA)

        // A claims at the end of its short epoch, on its own; its balance rises by exactly bytes × rate
        let earnings: Earnings | undefined
        await a.waitFor(async () => {
          earnings = await a.call<Earnings>('earnings')
          const claimed = earnings.paid.reduce((sum, p) => sum + BigInt(p.claimedBytes ?? '0'), 0n)
          return earnings.pending.receipts === 0 && earnings.submitted.length === 0 && claimed === bytesFromA
        }, 60_000, 'A to claim every receipted byte', 500)
        const balance = await token.getFunction('balanceOf')(aAddress) as bigint
        expect(balance).toBe(bytesFromA * RATE)
        expect(BigInt(earnings?.totalPaid ?? '0')).toBe(bytesFromA * RATE)
        for (const paid of earnings?.paid ?? []) expect(paid.txHash).toMatch(/^0x[0-9a-f]{64}$/)

        // the same batch again, from A's account: refused, nothing more paid
        const claimTx = await provider.getTransaction(earnings?.paid[0]?.txHash as string)
        await provider.send('anvil_impersonateAccount', [aAddress])
        const again = await provider.send('eth_sendTransaction', [{ from: aAddress, to: deployment.pool, data: claimTx?.data, gas: '0x200000' }]).catch((err: Error) => err)
        if (typeof again === 'string') expect((await provider.waitForTransaction(again))?.status).toBe(0)
        else expect(again.message).toMatch(/EpochAlreadySettled|revert/)
        await provider.send('anvil_stopImpersonatingAccount', [aAddress])
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
      await origin.stop()
    }
  } finally {
    await chain.stop()
  }
})

function shortHash (hash: string): string {
  return `${hash.slice(0, 6)}…${hash.slice(-6)}`
}
