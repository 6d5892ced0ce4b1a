/** The origin's HTTP routes (gateway, uploads, offload report), loaded only when the relay runs with --origin. */
import { Registry, loadDeployment } from '../keys/registry.ts'
import { loadOrCreateUploadToken } from '../origin/token.ts'
import type { RelayNode } from '../relay.ts'
import { Gateway } from './gateway.ts'
import { ReportApi } from './report.ts'
import { UploadApi } from './upload.ts'

/** Builds the gateway, upload and report routes over a started origin; creates the upload token on first use. */
export async function createOriginRoutes (relay: RelayNode): Promise<{ gateway: Gateway, upload: UploadApi, report: ReportApi }> {
  const store = relay.origin
  const ledger = relay.served
  if (store === undefined || ledger === undefined) throw new Error('the relay is not an origin')
  const token = await loadOrCreateUploadToken(relay.config.data)
  const { rpc, deployment } = relay.config
  const registry = rpc === undefined || deployment === undefined ? undefined : new Registry(rpc, await loadDeployment(deployment))
  return {
    gateway: new Gateway({ store, metrics: relay.metrics, onServed: (cid, bytes) => { ledger.note(cid, bytes, 'gateway') } }),
    upload: new UploadApi({ relay, store, token }),
    report: new ReportApi({ store, ledger, ...(registry === undefined ? {} : { registry }) })
  }
}
