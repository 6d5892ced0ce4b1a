/**
 * The Delegated Routing V1 HTTP API (https://specs.ipfs.tech/routing/http-routing-v1/):
 * `GET /routing/v1/providers/{cid}` and `GET /routing/v1/peers/{peer-id}`, answered from the
 * relay's provider store and peer store and, among relays, the DHT.
 *
 * Peer ids are written as base58btc multihashes (`12D3Koo…`), the form
 * @helia/delegated-routing-v1-http-api-client accepts: it drops records whose ID is a CID.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Libp2p, PeerId, PeerInfo } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromCID, peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { InvalidParamsError, NotFoundError } from '@peerloom/shared/errors'
import { DEFAULT_ROUTING_TIMEOUT_MS, MAX_PROVIDERS_PER_ANSWER } from '../constants.ts'
import { parseCid } from '../origin/blocks.ts'
import { CORS_HEADERS, accepts, sendJson } from './respond.ts'

const NDJSON = 'application/x-ndjson'

/** A record as the spec's "peer" schema writes it. */
export interface PeerRecord {
  Schema: 'peer'
  ID: string
  Addrs: string[]
  Protocols?: string[]
}

export interface RoutingInit {
  libp2p: Libp2p
  /** Addresses through this relay for a peer holding a reservation on it (empty otherwise). */
  relayedAddresses?: (peer: PeerId) => Multiaddr[]
  /** @default DEFAULT_ROUTING_TIMEOUT_MS */
  timeoutMs?: number
}

function toRecord (peer: PeerInfo, protocols?: string[]): PeerRecord {
  return {
    Schema: 'peer',
    ID: peer.id.toString(),
    Addrs: peer.multiaddrs.map(addr => addr.toString()),
    ...(protocols === undefined || protocols.length === 0 ? {} : { Protocols: protocols })
  }
}

/** Parses a peer id written as base58btc or as a libp2p-key CID. */
export function parsePeerId (text: string): PeerId {
  try {
    return text.startsWith('1') || text.startsWith('Qm') ? peerIdFromString(text) : peerIdFromCID(CID.parse(text))
  } catch (err) {
    throw new InvalidParamsError(`"${text.slice(0, 100)}" is not a peer id`, { cause: err })
  }
}

/** Streams records as NDJSON when the client asks for it, else collects them into `{ [key]: [...] }`. */
async function answer (req: IncomingMessage, res: ServerResponse, key: 'Providers' | 'Peers', records: AsyncIterable<PeerRecord>, notFound: boolean): Promise<number> {
  if (accepts(req, NDJSON)) {
    const iterator = records[Symbol.asyncIterator]()
    const first = await iterator.next()
    if (notFound && first.done === true) throw new NotFoundError('no record found')
    res.writeHead(200, { ...CORS_HEADERS, 'content-type': NDJSON, 'cache-control': 'public, max-age=15' })
    if (req.method !== 'HEAD') {
      if (first.done !== true) res.write(JSON.stringify(first.value) + '\n')
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) res.write(JSON.stringify(next.value) + '\n')
    }
    res.end()
    return 200
  }
  const all: PeerRecord[] = []
  for await (const record of records) all.push(record)
  if (notFound && all.length === 0) throw new NotFoundError('no record found')
  sendJson(res, 200, { [key]: all }, { 'cache-control': 'public, max-age=15' })
  return 200
}

/** Aborts when the client goes away or the lookup runs past its deadline. */
function lookupSignal (req: IncomingMessage, timeoutMs: number): AbortSignal {
  const gone = new AbortController()
  req.socket.once('close', () => { gone.abort(new Error('client went away')) })
  return AbortSignal.any([gone.signal, AbortSignal.timeout(timeoutMs)])
}

export class RoutingApi {
  private readonly libp2p: Libp2p
  private readonly timeoutMs: number
  private readonly relayedAddresses: (peer: PeerId) => Multiaddr[]

  constructor (init: RoutingInit) {
    this.libp2p = init.libp2p
    this.relayedAddresses = init.relayedAddresses ?? (() => [])
    this.timeoutMs = init.timeoutMs ?? DEFAULT_ROUTING_TIMEOUT_MS
  }

  /** GET /routing/v1/providers/{cid}: 200 with the providers found (possibly none, per IPIP-0513). */
  async providers (req: IncomingMessage, res: ServerResponse, cidText: string): Promise<number> {
    const cid = parseCid(cidText)
    const signal = lookupSignal(req, this.timeoutMs)
    const libp2p = this.libp2p
    async function * records (): AsyncGenerator<PeerRecord> {
      const seen = new Set<string>()
      try {
        for await (const provider of libp2p.contentRouting.findProviders(cid, { signal })) {
          const id = provider.id.toString()
          if (seen.has(id)) continue
          seen.add(id)
          yield toRecord(provider)
          if (seen.size >= MAX_PROVIDERS_PER_ANSWER) return
        }
      } catch (err) {
        // a lookup that ran out of time still answers with what it found
        if (!signal.aborted) throw err
      }
    }
    return await answer(req, res, 'Providers', records(), false)
  }

  /** GET /routing/v1/peers/{peer-id}: the peer's addresses from the peer store or the DHT; 404 if unknown. */
  async peers (req: IncomingMessage, res: ServerResponse, idText: string): Promise<number> {
    const id = parsePeerId(idText)
    const signal = lookupSignal(req, this.timeoutMs)
    const libp2p = this.libp2p
    const relayed = this.relayedAddresses(id)
    async function * records (): AsyncGenerator<PeerRecord> {
      if (id.equals(libp2p.peerId)) {
        yield toRecord({ id, multiaddrs: libp2p.getMultiaddrs() }, libp2p.getProtocols())
        return
      }
      // what the peer told us (identify, identify-push, provider records), plus the circuit
      // addresses its reservation here guarantees, which it may not have pushed yet
      let known: PeerInfo | undefined
      let protocols: string[] | undefined
      try {
        const peer = await libp2p.peerStore.get(id, { signal })
        known = { id, multiaddrs: peer.addresses.map(address => address.multiaddr) }
        protocols = peer.protocols
      } catch (err) {
        if ((err as Error).name !== 'NotFoundError') throw err
      }
      if ((known?.multiaddrs.length ?? 0) === 0 && relayed.length === 0) {
        try {
          known = await libp2p.peerRouting.findPeer(id, { signal })
        } catch (err) {
          if ((err as Error).name !== 'NotFoundError' && !signal.aborted) throw err
        }
      }
      const addrs = new Map<string, Multiaddr>()
      for (const addr of [...(known?.multiaddrs ?? []), ...relayed]) addrs.set(addr.toString(), addr)
      if (addrs.size > 0) yield toRecord({ id, multiaddrs: [...addrs.values()] }, protocols)
    }
    return await answer(req, res, 'Peers', records(), true)
  }
}
