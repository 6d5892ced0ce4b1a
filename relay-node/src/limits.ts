/**
 * Per-IP and per-peer caps the circuit relay server and the connection manager do not have
 * on their own, enforced through the libp2p connection gater:
 *
 * - connections held at once from one IP address (`maxConnectionsPerIp`);
 * - reservations held at once from one IP address (`maxReservationsPerIp`); one per peer is
 *   the relay server's own rule, since reservations are keyed by peer id;
 * - relayed connections (circuits) one peer takes part in at once (`maxCircuitsPerPeer`).
 *
 * The global caps (reservations, connections, handshake backlog, connection rate per IP) are
 * the relay server's and the connection manager's own settings, wired in relay.ts.
 */
import type { Connection, ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { PeerMap } from '@libp2p/peer-collections'
import type { RelayReservation } from '@libp2p/circuit-relay-v2'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { RelayLimits } from '@peerloom/shared'

export const HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'
export const STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'

/** What the gate needs to see of the running node. */
export interface RelayView {
  connections: (peer?: PeerId) => Connection[]
  reservations: () => PeerMap<RelayReservation> | undefined
}

export type DenialReason = 'connections-per-ip' | 'reservations-per-ip' | 'circuits-per-peer'

export interface RelayGateInit {
  limits: Pick<RelayLimits, 'maxConnectionsPerIp' | 'maxReservationsPerIp' | 'maxCircuitsPerPeer'>
  /** Called whenever the gate refuses something, for metrics and logs. */
  onDenied?: (reason: DenialReason, detail: string) => void
}

/** The IP address of a direct connection's remote end; undefined for relayed or unix addresses. */
export function ipOf (addr: Multiaddr): string | undefined {
  const first = addr.getComponents()[0]
  if (first === undefined) return undefined
  return first.name === 'ip4' || first.name === 'ip6' ? first.value : undefined
}

/** Relayed connections `peer` takes part in now: hop streams it opened plus stop streams we opened to it. */
export function circuitsOf (connections: Connection[]): number {
  let circuits = 0
  for (const connection of connections) {
    for (const stream of connection.streams) {
      if ((stream.protocol === HOP_PROTOCOL && stream.direction === 'inbound') || (stream.protocol === STOP_PROTOCOL && stream.direction === 'outbound')) circuits++
    }
  }
  return circuits
}

/** Relayed connections this relay carries now: one outbound stop stream each. */
export function openCircuits (connections: Connection[]): number {
  let circuits = 0
  for (const connection of connections) {
    for (const stream of connection.streams) {
      if (stream.protocol === STOP_PROTOCOL && stream.direction === 'outbound') circuits++
    }
  }
  return circuits
}

/** Enforces the per-IP and per-peer caps; `bind` it to the node once the node exists. */
export class RelayGate {
  private view?: RelayView
  private readonly limits: RelayGateInit['limits']
  private readonly onDenied: NonNullable<RelayGateInit['onDenied']>

  constructor (init: RelayGateInit) {
    this.limits = init.limits
    this.onDenied = init.onDenied ?? (() => {})
  }

  bind (view: RelayView): void {
    this.view = view
  }

  /** The libp2p connection gater; everything it does not decide is allowed. */
  gater (): ConnectionGater {
    return {
      denyDialMultiaddr: () => false,
      denyInboundConnection: (maConn: MultiaddrConnection) => this.denyConnection(maConn.remoteAddr),
      denyInboundRelayReservation: (peer: PeerId) => this.denyReservation(peer),
      denyOutboundRelayedConnection: (source: PeerId, destination: PeerId) => this.denyCircuit(source, destination)
    }
  }

  private denyConnection (remote: Multiaddr): boolean {
    const ip = ipOf(remote)
    if (ip === undefined || this.view === undefined) return false
    let held = 0
    for (const connection of this.view.connections()) {
      if (ipOf(connection.remoteAddr) === ip) held++
    }
    if (held < this.limits.maxConnectionsPerIp) return false
    this.onDenied('connections-per-ip', `${ip} already holds ${held} connections (limit ${this.limits.maxConnectionsPerIp})`)
    return true
  }

  private denyReservation (peer: PeerId): boolean {
    const reservations = this.view?.reservations()
    if (this.view === undefined || reservations === undefined) return false
    if (reservations.has(peer)) return false // a refresh never counts against the cap
    const direct = this.view.connections(peer).find(connection => connection.limits === undefined)
    const ip = direct === undefined ? undefined : ipOf(direct.remoteAddr)
    if (ip === undefined) return false
    let held = 0
    for (const reservation of reservations.values()) {
      if (ipOf(reservation.addr) === ip) held++
    }
    if (held < this.limits.maxReservationsPerIp) return false
    this.onDenied('reservations-per-ip', `${ip} already holds ${held} reservations (limit ${this.limits.maxReservationsPerIp})`)
    return true
  }

  private denyCircuit (source: PeerId, destination: PeerId): boolean {
    if (this.view === undefined) return false
    // the source's own hop stream for this request is open already, so it counts itself once
    const sourceCircuits = circuitsOf(this.view.connections(source)) - 1
    const destinationCircuits = circuitsOf(this.view.connections(destination))
    const busiest = Math.max(sourceCircuits, destinationCircuits)
    if (busiest < this.limits.maxCircuitsPerPeer) return false
    const who = sourceCircuits >= destinationCircuits ? source : destination
    this.onDenied('circuits-per-peer', `${who.toString()} already takes part in ${busiest} relayed connections (limit ${this.limits.maxCircuitsPerPeer})`)
    return true
  }
}
