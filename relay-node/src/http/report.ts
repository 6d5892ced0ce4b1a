/**
 * `GET /api/v1/report/{content id | manifest CID}` on an origin: the offload report
 * (origin/report.ts) as JSON. Peer bytes come from the chain when the origin runs with --rpc
 * and --deployment; without them, or when the chain cannot be read, `peerBytes` is null and
 * `peerBytesUnavailable` says why.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from '../keys/registry.ts'
import { offloadReport } from '../origin/report.ts'
import type { ServedLedger } from '../origin/served.ts'
import type { OriginStore } from '../origin/store.ts'
import { sendJson } from './respond.ts'

export const NO_CHAIN = 'this origin reads no chain: start it with --rpc and --deployment to report the bytes peers claimed'

export class ReportApi {
  private readonly store: OriginStore
  private readonly ledger: ServedLedger
  private readonly registry?: Registry

  constructor (init: { store: OriginStore, ledger: ServedLedger, registry?: Registry }) {
    this.store = init.store
    this.ledger = init.ledger
    if (init.registry !== undefined) this.registry = init.registry
  }

  async report (_req: IncomingMessage, res: ServerResponse, id: string): Promise<number> {
    const registry = this.registry
    const report = await offloadReport(id, {
      records: await this.store.list(),
      counts: contentId => this.ledger.counts(contentId),
      noChain: NO_CHAIN,
      ...(registry === undefined ? {} : { claimed: async (contentId: string) => await registry.claimedBytes(contentId) })
    })
    sendJson(res, 200, report)
    return 200
  }
}
