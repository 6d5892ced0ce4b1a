/** The node's document: starts the node and answers requests the service worker forwards. */
import { errorToWire } from '@peerloom/shared'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import { createPeerloomNode } from '../../src/node/node.ts'
import { handleNodeRequest } from '../../src/node/rpc.ts'
import type { SiteConsent } from '../../src/node/rpc.ts'
import { openStateDb } from '../../src/storage/state-db.ts'
import { TransferBook } from '../../src/node/transfers.ts'
import { installPageApi } from '../../src/page-api/node/node-setup.ts'
import { CallService } from '../../src/calls/call-service.ts'
import { openCallsDb } from '../../src/calls/calls-db.ts'
import { ForwarderClient, ForwarderReputation } from '../../src/calls/forwarder-client.ts'
import { ForwarderService } from '../../src/calls/forwarder/service.ts'
import { forwarderRequest, isForwarderRequest } from '../../src/calls/forwarder/requests.ts'
import { RegistryRoomKeys } from '../../src/calls/room-keys.ts'
import { KeyClient } from '../../src/rewards/key-client.ts'
import { openRewardsDb } from '../../src/rewards/rewards-db.ts'

/** Relays, routers and gateways baked in at build time (the devnet sets them), comma-separated. */
function buildDefaults (): NodeSettingsInput {
  const list = (value: string | undefined): string[] => (value ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  const defaults: NodeSettingsInput = {}
  const relays = list(import.meta.env.WXT_PEERLOOM_RELAYS)
  const routers = list(import.meta.env.WXT_PEERLOOM_ROUTERS)
  const gateways = list(import.meta.env.WXT_PEERLOOM_GATEWAYS)
  if (relays.length > 0) defaults.relays = relays
  if (routers.length > 0) defaults.routers = routers
  if (gateways.length > 0) defaults.gateways = gateways
  // the chain rewards are claimed on (the devnet writes these from .devnet/deployment.json)
  const env = import.meta.env
  if (env.WXT_PEERLOOM_RPC !== undefined && env.WXT_PEERLOOM_RPC !== '') defaults.rpcUrl = env.WXT_PEERLOOM_RPC
  if (env.WXT_PEERLOOM_CHAIN_ID !== undefined && env.WXT_PEERLOOM_CHAIN_ID !== '') defaults.chainId = Number(env.WXT_PEERLOOM_CHAIN_ID)
  if (env.WXT_PEERLOOM_REWARD_POOL !== undefined && env.WXT_PEERLOOM_REWARD_POOL !== '') defaults.rewardPool = env.WXT_PEERLOOM_REWARD_POOL
  if (env.WXT_PEERLOOM_CONTENT_REGISTRY !== undefined && env.WXT_PEERLOOM_CONTENT_REGISTRY !== '') defaults.contentRegistry = env.WXT_PEERLOOM_CONTENT_REGISTRY
  if (env.WXT_PEERLOOM_EPOCH_SECONDS !== undefined && env.WXT_PEERLOOM_EPOCH_SECONDS !== '') defaults.epochSeconds = Number(env.WXT_PEERLOOM_EPOCH_SECONDS)
  return defaults
}

const ready = (async () => {
  const [stateDb, callsDb, rewardsDb] = await Promise.all([openStateDb(), openCallsDb(), openRewardsDb()])
  // calls run on the node's libp2p (a capability); they reach the node only through these
  // closures, which run once the node exists (after its network started)
  const settings = (): NodeSettings => node.settings()
  const onError = (err: unknown): void => { node.report(err) }
  // the media role: off until the donor opts in (media.forward); the engine enforces its caps
  const forwarder = new ForwarderService({
    media: () => settings().media,
    iceServers: () => settings().iceServers,
    createWorker: () => new Worker(chrome.runtime.getURL('/forwarder-worker.js')),
    onError
  })
  const forwarders = new ForwarderClient({
    reputation: new ForwarderReputation(callsDb),
    trackReceipts: (stats, contentId) => node.rewardsService.track(stats, contentId),
    onError
  })
  const calls = new CallService({
    db: callsDb,
    iceServers: () => settings().iceServers,
    // a room above MESH_MAX_PARTICIPANTS goes through a donor's forwarder; its bytes are receipted like content's
    forwarders,
    // a gated room's key comes like gated content's: the same signed request, its own KeyClient on the rewards database
    gatedKeys: new RegistryRoomKeys({ settings, keys: new KeyClient({ db: rewardsDb, settings, signer: () => node.signer() }) })
  })
  const node = createPeerloomNode({ db: stateDb, defaults: buildDefaults(), capabilities: [calls, forwarder] })
  const transfers = new TransferBook(node)
  await node.start().catch(err => { console.error('peerloom: node failed to start', err) })
  return { node, transfers, calls, forwarder, forwarders }
})()

// window.peerloom: pages' ports and player streams, handled by the page API
const pageApi = installPageApi(ready.then(({ node }) => node), ready.then(({ calls }) => calls))
// Options → Sites reads and changes consent through the node, never the page API's database
const sites: SiteConsent = {
  list: async () => await (await pageApi).consent.list(),
  allow: async origin => { await (await pageApi).consent.set(origin, 'allowed') },
  forget: async origin => { await (await pageApi).revoke(origin) }
}

chrome.runtime.onMessage.addListener((message: { to?: string, method?: unknown, params?: unknown }, sender, sendResponse) => {
  // only the service worker forwards requests here (it checked that they came from the extension's own pages)
  if (message?.to !== 'offscreen' || sender.id !== chrome.runtime.id || sender.url !== chrome.runtime.getURL('/background.js')) return false
  ready.then(async ({ node, transfers, forwarder, forwarders }) => {
    if (message.method === 'forwarderClient') return { ok: true, result: forwarders.status() }
    // the forwarder's own requests (its stats, frames sampled for tests) are answered here; the rest by the node
    if (isForwarderRequest(message.method)) return await forwarderRequest(forwarder, message.method, message.params)
    return await handleNodeRequest({ node, transfers, sites }, { method: message.method, params: message.params })
  })
    .then(sendResponse, (err: unknown) => { sendResponse({ ok: false, error: errorToWire(err) }) })
  return true
})
