/**
 * `npm start`: the Peerloom devnet on loopback — a local chain with the contracts deployed, a
 * relay and a relay+origin, demo content published into the origin, the demo site, and the
 * extension built to use them. It prints what runs where and how to load the extension, and
 * keeps running until Ctrl-C.
 *
 *   npm start                 start (state under .devnet/, kept across runs: the relays keep their ids)
 *   npm start -- --fresh      wipe .devnet/ first
 *   npm start -- --check      start, check that the demo content reads back verified, stop (exit 0/1)
 *   npm start -- --open       also launch Chromium with the extension (needs a display)
 *   npm start -- --state DIR  keep state in DIR instead of .devnet/
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Wallet, JsonRpcProvider, NonceManager } from 'ethers'
import { createKeyRequest, signKeyRequest } from '@peerloom/shared'
import { startChain, deployAll, writeDeployment } from '@peerloom/contracts'
import { GatewayClient } from '@peerloom/sdk'
import { startRelay } from '../e2e/src/devnet.ts'
import type { RelayProcess } from '../e2e/src/devnet.ts'
import { startDemoSite } from '../e2e/demo-site/server.ts'
import type { DemoContent } from '../e2e/demo-site/server.ts'

const ROOT = resolve(import.meta.dirname, '..')
const PORTS = { chain: 8545, relayWs: 4002, relayHttp: 8081, originWs: 4003, originHttp: 8080, site: 5173 }

const { values: flags } = parseArgs({ options: { fresh: { type: 'boolean' }, check: { type: 'boolean' }, open: { type: 'boolean' }, state: { type: 'string', default: '.devnet' } } })
const STATE = resolve(ROOT, flags.state)
const stops: Array<() => Promise<void>> = []
const say = (line: string): void => { process.stdout.write(`${line}\n`) }

async function run (command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${[command, ...args].join(' ')} failed (${code}):\n${err.slice(-3000)}`)
  return out
}

/**
 * Publishes a file as gated content (a DevnetPass holder gets the key from the origin's key
 * service) and registers it with a reward budget. Not cached: the chain starts empty every run.
 */
async function publishGated (file: string, title: string, mime: string, publisherKey: string, origin: RelayProcess, rpcUrl: string, pass: string): Promise<DemoContent> {
  const bytes = await readFile(file)
  const out = await run(process.execPath, [join(ROOT, 'relay-node/bin/peerloom.js'), 'publish', file, '--data', origin.dataDir, '--name', title, '--mime', mime, '--quiet',
    '--gated', '--policy', `erc721:${pass}`, '--rate', '1000000000', '--budget', '1000LOOM', '--rpc', rpcUrl, '--deployment', join(STATE, 'deployment.json')], { PEERLOOM_PUBLISHER_KEY: publisherKey })
  const { link } = JSON.parse(out.trim().split('\n').at(-1)!) as { link: string }
  return { title, link, mime, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/** Publishes a file into the origin's data directory with the devnet publisher key (idempotent per file). */
async function publish (file: string, title: string, mime: string, publisherKey: string, origin: RelayProcess): Promise<DemoContent> {
  const bytes = await readFile(file)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const cacheFile = join(STATE, `published-${sha256.slice(0, 16)}.json`)
  if (existsSync(cacheFile)) return JSON.parse(await readFile(cacheFile, 'utf8')) as DemoContent
  const out = await run(process.execPath, [join(ROOT, 'relay-node/bin/peerloom.js'), 'publish', file, '--data', origin.dataDir, '--name', title, '--mime', mime, '--quiet'], { PEERLOOM_PUBLISHER_KEY: publisherKey })
  const { link } = JSON.parse(out.trim().split('\n').at(-1)!) as { link: string }
  const item: DemoContent = { title, link, mime, size: bytes.length, sha256 }
  await writeFile(cacheFile, JSON.stringify(item))
  return item
}

/** The content id in a published item's manifest (read back through the gateway). */
async function contentIdOf (origin: RelayProcess, link: string): Promise<string> {
  const cid = link.slice('peerloom://'.length).split('#')[0]!
  const manifest = JSON.parse(await (await fetch(`${origin.http}/ipfs/${cid}?format=raw`)).text()) as { contentId: string }
  return manifest.contentId
}

async function main (): Promise<void> {
  if (flags.fresh === true) await rm(STATE, { recursive: true, force: true })
  await mkdir(STATE, { recursive: true })

  say('devnet: starting the chain and deploying the contracts…')
  // anvil listens within a second on an idle machine; a busy one (npm test under load) needs far longer
  const chain = await startChain({ port: flags.check === true ? 0 : PORTS.chain, timeoutMs: 120_000 })
  stops.push(chain.stop)
  const deployer = new NonceManager(new Wallet(chain.accounts[0]!, new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true })))
  const publisher = new Wallet(chain.accounts[1]!)
  const deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 1_000_000n * 10n ** 18n }] })
  await writeDeployment(join(STATE, 'deployment.json'), deployment)
  // for `npm run devnet:pass`: the chain and its (well-known anvil) deployer key, devnet only
  await writeFile(join(STATE, 'chain.json'), JSON.stringify({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, deployerKey: chain.accounts[0] }) + '\n', { mode: 0o600 })

  say('devnet: starting a relay and a relay+origin…')
  const port = (n: number): number => flags.check === true ? 0 : n
  const relay = await startRelay({ dataDir: join(STATE, 'relay'), port: port(PORTS.relayWs), httpPort: port(PORTS.relayHttp) })
  stops.push(relay.stop)
  // the origin also runs the publisher's key service for gated content
  const publisherKeyFile = join(STATE, 'publisher.key')
  await writeFile(publisherKeyFile, publisher.privateKey, { mode: 0o600 })
  const origin = await startRelay({
    dataDir: join(STATE, 'origin'),
    origin: true,
    bootstrap: [relay.addr],
    port: port(PORTS.originWs),
    httpPort: port(PORTS.originHttp),
    args: ['--rpc', chain.rpcUrl, '--deployment', join(STATE, 'deployment.json'), '--publisher-key-file', publisherKeyFile]
  })
  stops.push(origin.stop)

  say('devnet: publishing the demo content into the origin…')
  const content = [
    await publish(join(ROOT, 'e2e/media/demo.webm'), 'Demo video (20 s, VP9)', 'video/webm', publisher.privateKey, origin),
    await publishGated(join(ROOT, 'e2e/media/demo.webm'), 'Members-only video (DevnetPass holders)', 'video/webm', publisher.privateKey, origin, chain.rpcUrl, deployment.pass as string)
  ]

  const site = await startDemoSite({ port: port(PORTS.site), gateways: [origin.http], content })
  stops.push(site.stop)

  if (flags.check === true) {
    const client = new GatewayClient({ gateways: [origin.http] })
    // the key service refuses an account without a pass, and says why
    const stranger = Wallet.createRandom()
    const gatedId = await contentIdOf(origin, content[1]!.link)
    const request = createKeyRequest({ domain: new URL(origin.http).host, address: stranger.address, uri: `${origin.http}/keys/v1`, chainId: chain.chainId, contentId: gatedId })
    const refusal = await fetch(`${origin.http}/keys/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(await signKeyRequest(stranger, request)) })
    const refusalBody = await refusal.json() as { error?: { code?: number, message?: string } }
    if (refusal.status !== 403 || refusalBody.error?.code !== 5011) throw new Error(`key service: expected a 5011 refusal, got ${refusal.status} ${JSON.stringify(refusalBody)}`)
    say(`devnet check: the key service refuses an account without a pass: "${refusalBody.error.message ?? ''}"`)
    for (const item of content.filter(c => c.link.includes('#k='))) {
      const bytes = new Uint8Array(await (await client.fetch(item.link)).arrayBuffer())
      const hash = createHash('sha256').update(bytes).digest('hex')
      if (hash !== item.sha256) throw new Error(`${item.title}: read back ${hash}, published ${item.sha256}`)
      say(`devnet check: ${item.title} reads back verified through the origin gateway (${bytes.length} bytes)`)
    }
    const html = await (await fetch(site.url)).text()
    if (!html.includes('Peerloom demo site')) throw new Error('demo site did not serve its page')
    say('devnet check: ok')
    return
  }

  say('devnet: building the extension for this devnet…')
  const settings = {
    WXT_PEERLOOM_RELAYS: [relay.addr, origin.addr].join(','),
    WXT_PEERLOOM_ROUTERS: [relay.http, origin.http].join(','),
    WXT_PEERLOOM_GATEWAYS: origin.http,
    // rewards and gated content: the chain and the contracts
    WXT_PEERLOOM_RPC: chain.rpcUrl,
    WXT_PEERLOOM_CHAIN_ID: String(chain.chainId),
    WXT_PEERLOOM_REWARD_POOL: deployment.pool,
    WXT_PEERLOOM_CONTENT_REGISTRY: deployment.registry
  }
  await run(process.execPath, [join(ROOT, 'node_modules/wxt/bin/wxt.mjs'), 'build'], settings)
  const extensionDir = join(ROOT, '.output/chrome-mv3')

  say(`
Peerloom devnet is running (Ctrl-C stops it; state in .devnet/)

  chain            ${chain.rpcUrl} (chain id ${chain.chainId})
  contracts        token ${deployment.token}
                   registry ${deployment.registry}
                   pool ${deployment.pool}   (all in .devnet/deployment.json)
  relay            ${relay.addr}
                   ${relay.http}/health  ${relay.http}/metrics
  relay + origin   ${origin.addr}
                   ${origin.http}/health  gateway ${origin.http}/ipfs/{cid}
  demo site        ${site.url}
  demo content     ${content.map(c => `${c.title}\n                   ${c.link}`).join('\n                   ')}
  publisher        ${publisher.address} (devnet key, holds 1,000,000 LOOM)
  key service      ${origin.http}/keys/v1 (gated content: DevnetPass ${deployment.pass ?? ''})
                   give a node a pass and gas: npm run devnet:pass -- <node address from the popup>

The extension is built in ${extensionDir}, already pointed at these relays.
Load it: open chrome://extensions, turn on Developer mode, "Load unpacked", choose that folder.
Then open the demo site; without the extension it reads from the origin gateway instead.
`)
  if (flags.open === true) {
    if (process.env.DISPLAY === undefined) say('--open: no display here ($DISPLAY is unset); load the extension by hand as above.')
    else {
      const browser = spawn('chromium', [`--user-data-dir=${join(STATE, 'chromium-profile')}`, `--load-extension=${extensionDir}`, '--allow-loopback-in-peer-connection', '--no-first-run', site.url], { stdio: 'ignore' })
      stops.push(async () => { browser.kill('SIGTERM') })
    }
  }
  await new Promise<void>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
}

let exitCode = 0
try {
  await main()
} catch (err) {
  process.stderr.write(`devnet: ${(err as Error).message}\n`)
  exitCode = 1
} finally {
  say('devnet: stopping…')
  for (const stop of stops.reverse()) await stop().catch(() => {})
}
process.exit(exitCode)
