/** How the popup and options pages talk to the node (through the service worker). */
import { errorFromWire } from '@peerloom/shared'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import type { ClientUsage } from '../serve-meter.ts'
import type { NodeStatus } from '../node.ts'
import type { NodeMethod, NodeResponse } from '../rpc.ts'
import type { HistorySeries } from '../transfer-history.ts'
import type { TransferState } from '../transfers.ts'
import type { ContentRecord } from '../state-db.ts'

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
  resetIdentity: async () => { await callNode('resetIdentity') }
}
