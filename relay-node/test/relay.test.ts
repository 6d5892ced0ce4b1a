/**
 * Two relays on loopback, bootstrapped to each other, with libp2p clients shaped like
 * browsers: reservations, relayed reachability, the DHT across relays seen through the
 * Delegated Routing V1 API, and the reservation caps.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { delegatedRoutingV1HttpApiClient } from '@helia/delegated-routing-v1-http-api-client'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromCID } from '@libp2p/peer-id'
import type { Libp2p } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { RelayStatus, WAIT_MS, circuitAddress, createClient, eventually, removeDir, reserve, startRelay } from './helpers.ts'
import type { ClientServices, RunningRelay } from './helpers.ts'

async function randomCid (): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(crypto.getRandomValues(new Uint8Array(32))))
}

async function metric (relay: RunningRelay, name: string): Promise<number> {
  const text = await (await fetch(`${relay.http}/metrics`)).text()
  const line = text.split('\n').find(candidate => candidate.startsWith(`${name} `) || candidate.startsWith(`${name}{`))
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('two bootstrapped relays', () => {
  let a: RunningRelay
  let b: RunningRelay
  const clients: Array<Libp2p<ClientServices>> = []

  before(async () => {
    a = await startRelay()
    b = await startRelay(['--bootstrap', a.ws.toString()])
    // B's DHT knows A once they have connected and identified each other
    await eventually(async () => {
      const health = await (await fetch(`${a.http}/health`)).json() as { connections: number }
      return health.connections >= 1 ? true : undefined
    }, 'relay B connecting to relay A')
  })

  after(async () => {
    await Promise.all(clients.map(async client => { await client.stop() }))
    for (const relay of [a, b]) {
      if (relay === undefined) continue
      await relay.stop()
      await removeDir(relay.data)
    }
  })

  it('gives a client a reservation that makes it reachable through its /p2p-circuit address', async () => {
    const target = await createClient({ listen: [`${a.ws.toString()}/p2p-circuit`] })
    const dialer = await createClient()
    clients.push(target, dialer)
    const address = await circuitAddress(target, a.peerId)
    assert.match(address.toString(), new RegExp(`/p2p/${a.peerId}/p2p-circuit/p2p/${target.peerId.toString()}$`))

    const health = await (await fetch(`${a.http}/health`)).json() as { reservations: number }
    assert.equal(health.reservations, 1)

    const rtt = await dialer.services.ping.ping(address, { signal: AbortSignal.timeout(WAIT_MS) })
    assert.ok(rtt >= 0)
    const relayed = dialer.getConnections(target.peerId)
    assert.ok(relayed.some(connection => connection.remoteAddr.toString().includes('/p2p-circuit')), 'the dialer reached the target through the relay')
    assert.ok(relayed.every(connection => connection.limits !== undefined), 'a relayed connection carries limits')

    assert.ok(await metric(a, 'peerloom_relay_circuits_opened_total') >= 1)
    assert.ok(await metric(a, 'peerloom_relay_relayed_bytes_total') > 0)
    assert.equal(await metric(a, 'peerloom_relay_reservations'), 1)
  })

  it('answers /routing/v1/peers with a reserved client\'s circuit address', async () => {
    const target = await createClient({ listen: [`${a.ws.toString()}/p2p-circuit`] })
    clients.push(target)
    await circuitAddress(target, a.peerId)
    const body = await eventually(async () => {
      const res = await fetch(`${a.http}/routing/v1/peers/${target.peerId.toString()}`)
      if (res.status !== 200) return undefined
      const json = await res.json() as { Peers: Array<{ ID: string, Addrs: string[] }> }
      return json.Peers[0]?.Addrs.some(addr => addr.includes('/p2p-circuit')) === true ? json : undefined
    }, 'the relay learning the client\'s circuit address')
    assert.equal(body.Peers[0]?.ID, target.peerId.toString())

    const unknown = await fetch(`${a.http}/routing/v1/peers/12D3KooWJtRNWNpR3fcMN6mcGvZWzNjy7ukdYtDg9qAkuzfXpWTS`)
    assert.equal(unknown.status, 404)
    const bad = await fetch(`${a.http}/routing/v1/peers/not-a-peer`)
    assert.equal(bad.status, 400)
  })

  it('finds through relay A a provider record announced through relay B', async () => {
    // the provider may talk to B only, so the record can reach A only through the relays' DHT
    const provider = await createClient({
      listen: [`${b.ws.toString()}/p2p-circuit`],
      gater: { denyDialPeer: peer => peer.toString() === a.peerId }
    })
    clients.push(provider)
    await circuitAddress(provider, b.peerId)
    // routingTable is on the implementation, not the KadDHT interface
    const table = (provider.services.dht as unknown as { routingTable: { size: number } }).routingTable
    await eventually(() => table.size > 0 ? true : undefined, 'relay B entering the client\'s DHT routing table')
    const cid = await randomCid()
    await provider.contentRouting.provide(cid, { signal: AbortSignal.timeout(WAIT_MS) })

    const res = await fetch(`${a.http}/routing/v1/providers/${cid.toString()}`, { headers: { accept: 'application/json' } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const json = await res.json() as { Providers: Array<{ Schema: string, ID: string, Addrs: string[] }> }
    const record = json.Providers.find(candidate => candidate.ID === provider.peerId.toString())
    assert.ok(record !== undefined, `provider missing from ${JSON.stringify(json)}`)
    assert.equal(record.Schema, 'peer')
    assert.ok(record.Addrs.some(addr => addr.includes(`/p2p/${b.peerId}/p2p-circuit`)), `a circuit address through B in ${record.Addrs.join(', ')}`)

    // the standard client parses the answer (peer ids written in the form it accepts)
    const routing = delegatedRoutingV1HttpApiClient({ url: a.http, cacheTTL: 0 })({ logger: defaultLogger() })
    const found = []
    for await (const peer of routing.getProviders(cid, { signal: AbortSignal.timeout(WAIT_MS) })) found.push(peer)
    assert.ok(found.some(peer => peerIdFromCID(peer.ID).equals(provider.peerId)), 'the delegated routing client lists the provider')

    const none = await (await fetch(`${a.http}/routing/v1/providers/${(await randomCid()).toString()}`)).json() as { Providers: unknown[] }
    assert.deepEqual(none.Providers, [])
  })
})

describe('reservation caps', () => {
  it('refuses reservations beyond --max-reservations and beyond --max-reservations-per-ip', async () => {
    const relay = await startRelay(['--max-reservations', '2', '--max-reservations-per-ip', '2'])
    const clients: Array<Libp2p<ClientServices>> = []
    try {
      for (let i = 0; i < 3; i++) clients.push(await createClient())
      assert.equal(await reserve(clients[0] as Libp2p, relay.ws), RelayStatus.OK)
      assert.equal(await reserve(clients[1] as Libp2p, relay.ws), RelayStatus.OK)
      assert.equal(await reserve(clients[1] as Libp2p, relay.ws), RelayStatus.OK, 'refreshing a held reservation is not a new one')
      // the third client is refused by one of the two caps (both are 2); status tells which
      const third = await reserve(clients[2] as Libp2p, relay.ws)
      assert.ok(third === RelayStatus.RESERVATION_REFUSED || third === RelayStatus.PERMISSION_DENIED, `third reservation got status ${third}`)
      const health = await (await fetch(`${relay.http}/health`)).json() as { reservations: number }
      assert.equal(health.reservations, 2)
    } finally {
      await Promise.all(clients.map(async client => { await client.stop() }))
      await relay.stop()
      await removeDir(relay.data)
    }

    // with a roomy global cap, the per-IP cap alone refuses (all clients are 127.0.0.1)
    const perIp = await startRelay(['--max-reservations', '100', '--max-reservations-per-ip', '1'])
    const more: Array<Libp2p<ClientServices>> = []
    try {
      for (let i = 0; i < 2; i++) more.push(await createClient())
      assert.equal(await reserve(more[0] as Libp2p, perIp.ws), RelayStatus.OK)
      assert.equal(await reserve(more[1] as Libp2p, perIp.ws), RelayStatus.PERMISSION_DENIED)
      const text = await (await fetch(`${perIp.http}/metrics`)).text()
      assert.match(text, /peerloom_relay_denied_total\{reason="reservations-per-ip"\} 1/)
    } finally {
      await Promise.all(more.map(async client => { await client.stop() }))
      await perIp.stop()
      await removeDir(perIp.data)
    }
  })

  it('refuses the over-cap reservation with RESERVATION_REFUSED when only the global cap is hit, and frees a slot when its holder leaves', async () => {
    const relay = await startRelay(['--max-reservations', '1', '--max-reservations-per-ip', '100'])
    const clients: Array<Libp2p<ClientServices>> = []
    try {
      for (let i = 0; i < 2; i++) clients.push(await createClient())
      assert.equal(await reserve(clients[0] as Libp2p, relay.ws), RelayStatus.OK)
      assert.equal(await reserve(clients[1] as Libp2p, relay.ws), RelayStatus.RESERVATION_REFUSED)
      // a peer that disconnects frees its slot at once
      await (clients[0] as Libp2p).stop()
      await eventually(async () => {
        const health = await (await fetch(`${relay.http}/health`)).json() as { reservations: number }
        return health.reservations === 0 ? true : undefined
      }, 'the departed peer\'s reservation being dropped')
      assert.equal(await reserve(clients[1] as Libp2p, relay.ws), RelayStatus.OK)
    } finally {
      await Promise.all(clients.map(async client => { await client.stop() }))
      await relay.stop()
      await removeDir(relay.data)
    }
  })

  it('refuses a relayed connection beyond --max-circuits-per-peer and keeps the one it allowed', async () => {
    const relay = await startRelay(['--max-circuits-per-peer', '1'])
    const clients: Array<Libp2p<ClientServices>> = []
    try {
      const target = await createClient({ listen: [`${relay.ws.toString()}/p2p-circuit`] })
      clients.push(target, await createClient(), await createClient())
      const address = await circuitAddress(target, relay.peerId)
      const first = clients[1] as Libp2p<ClientServices>
      const second = clients[2] as Libp2p<ClientServices>
      await first.services.ping.ping(address, { signal: AbortSignal.timeout(WAIT_MS) })
      await assert.rejects(second.services.ping.ping(address, { signal: AbortSignal.timeout(WAIT_MS) }), 'the target already takes part in one circuit')
      const text = await (await fetch(`${relay.http}/metrics`)).text()
      assert.match(text, /peerloom_relay_denied_total\{reason="circuits-per-peer"\} [1-9]/)
      assert.ok(first.getConnections(target.peerId).some(connection => connection.status === 'open'), 'the allowed circuit stays open')
      const health = await (await fetch(`${relay.http}/health`)).json() as { circuits: number }
      assert.equal(health.circuits, 1)
    } finally {
      await Promise.all(clients.map(async client => { await client.stop() }))
      await relay.stop()
      await removeDir(relay.data)
    }
  })
})
