/** The node's document: starts the node and answers requests the service worker forwards. */
import type { NodeSettingsInput } from '@peerloom/shared'
import { createPeerloomNode } from '../../src/node.ts'
import { handleNodeRequest } from '../../src/rpc.ts'
import { openStateDb } from '../../src/state-db.ts'
import { TransferBook } from '../../src/transfers.ts'
import { installPageApi } from '../../src/page-api/node-setup.ts'

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
  const node = createPeerloomNode({ db: await openStateDb(), defaults: buildDefaults() })
  const transfers = new TransferBook(node)
  await node.start().catch(err => { console.error('peerloom: node failed to start', err) })
  return { node, transfers }
})()

// window.peerloom: pages' ports and player streams, handled by the page API
void installPageApi(ready.then(({ node }) => node))

chrome.runtime.onMessage.addListener((message: { to?: string, method?: unknown, params?: unknown }, sender, sendResponse) => {
  // only the service worker forwards requests here (it checked that they came from the extension's own pages)
  if (message?.to !== 'offscreen' || sender.id !== chrome.runtime.id || sender.url !== chrome.runtime.getURL('/background.js')) return false
  ready.then(async ({ node, transfers }) => await handleNodeRequest(node, transfers, { method: message.method, params: message.params }))
    .then(sendResponse, (err: Error) => { sendResponse({ ok: false, error: { code: 4900, message: err.message } }) })
  return true
})
