/**
 * How the popup and options pages talk to the node (through the service worker). The UI sees
 * the node only through this: its RPC and the types of its answers, re-exported here.
 */
import { errorFromWire } from '@peerloom/shared'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import type { ClientUsage } from '../blocks/serve-meter.ts'
import type { NodeStatus } from '../node/node.ts'
import type { NodeMethod, NodeResponse, SiteRecord } from '../node/rpc.ts'
import type { HistorySeries } from '../blocks/transfer-history.ts'
import type { TransferState } from '../node/transfers.ts'
import type { ContentRecord } from '../storage/state-db.ts'
import type { Earnings } from '../rewards/index.ts'
import type { RelayStatus } from '../net/relay-keeper.ts'

export type { ClientUsage, ContentRecord, Earnings, HistorySeries, NodeStatus, RelayStatus, SiteRecord, TransferState }

export async function callNode<T> (method: NodeMethod, params?: unknown): Promise<T> {
  const response = await chrome.runtime.sendMessage({ to: 'node', method, params }) as NodeResponse | undefined
  if (response === undefined) throw errorFromWire({ code: 4900, message: 'the extension did not answer; reload it from chrome://extensions' })
  if (!response.ok) throw errorFromWire(response.error)
  return response.result as T
}

export const nodeClient = {
  status: async () => await callNode<NodeStatus>('status'),
  history: async (buckets?: number) => await callNode<HistorySeries>('history', buckets === undefined ? undefined : { buckets }),
  settings: async () => await callNode<NodeSettings>('settings'),
  updateSettings: async (patch: NodeSettingsInput) => await callNode<NodeSettings>('updateSettings', patch),
  servedClients: async () => await callNode<ClientUsage[]>('servedClients'),
  contents: async () => await callNode<ContentRecord[]>('contents'),
  transfers: async () => await callNode<TransferState[]>('transfers'),
  clearCache: async () => { await callNode('clearCache') },
  resetIdentity: async () => { await callNode('resetIdentity') },
  sites: async () => await callNode<SiteRecord[]>('sites'),
  allowSite: async (origin: string) => { await callNode('allowSite', { origin }) },
  forgetSite: async (origin: string) => { await callNode('forgetSite', { origin }) }
}
