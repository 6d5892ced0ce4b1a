/** The origin's HTTP routes (gateway and uploads), loaded only when the relay runs with --origin. */
import { loadOrCreateUploadToken } from '../origin/token.ts'
import type { RelayNode } from '../relay.ts'
import { Gateway } from './gateway.ts'
import { UploadApi } from './upload.ts'

/** Builds the gateway and upload routes over a started origin; creates the upload token on first use. */
export async function createOriginRoutes (relay: RelayNode): Promise<{ gateway: Gateway, upload: UploadApi }> {
  const store = relay.origin
  if (store === undefined) throw new Error('the relay is not an origin')
  const token = await loadOrCreateUploadToken(relay.config.data)
  return { gateway: new Gateway({ store, metrics: relay.metrics }), upload: new UploadApi({ relay, store, token }) }
}
