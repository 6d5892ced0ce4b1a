/**
 * Configuration of a relay node (`peerloom-relay`), from flags, PEERLOOM_* variables and defaults.
 * relay-node/README.md explains each value and how to size it.
 */
import { z } from 'zod'
import { byteCount, hostPort, httpUrl, multiaddrString } from './fields.ts'

/** Defaults sized for one 2-core machine; see relay-node/README.md. */
export const RELAY_DEFAULTS = {
  listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'],
  http: '127.0.0.1:8080',
  data: './peerloom-relay-data',
  /** Reservations held at once; 1,000 cost about 50 MB (relay-node/bench/README.md). */
  maxReservations: 2048,
  /** Reservations from one IP address: a household or office behind one NAT. */
  maxReservationsPerIp: 64,
  /** Relayed connections one peer may hold open at once, as source or destination. */
  maxCircuitsPerPeer: 16,
  reservationTtlMs: 2 * 60 * 60 * 1000,
  maxConnections: 4096,
  /** Connections held at once from one IP address. */
  maxConnectionsPerIp: 256,
  /** New connections accepted per second from one IP address. */
  connectionRatePerIp: 20,
  /** Connections still in the handshake at once. */
  maxPendingConnections: 256,
  /**
   * Relayed (limited) connections carry signalling only: WebRTC SDP and ICE, identify,
   * routing. 2 minutes and 1 MiB is room for several upgrades; bulk data must go direct.
   */
  circuitDurationMs: 2 * 60 * 1000,
  circuitDataBytes: 1024 * 1024,
  /** V8 heap growth past the live set between full GCs, in percent; 0 keeps V8's default. */
  heapGrowingPercent: 20
} as const

const count = (min: number, max: number): z.ZodNumber => z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)

export const relayLimitsSchema = z.strictObject({
  maxReservations: count(1, 1_000_000).default(RELAY_DEFAULTS.maxReservations),
  maxReservationsPerIp: count(1, 1_000_000).default(RELAY_DEFAULTS.maxReservationsPerIp),
  maxCircuitsPerPeer: count(1, 4096).default(RELAY_DEFAULTS.maxCircuitsPerPeer),
  reservationTtlMs: count(10_000, 24 * 60 * 60 * 1000).default(RELAY_DEFAULTS.reservationTtlMs),
  maxConnections: count(16, 1_000_000).default(RELAY_DEFAULTS.maxConnections),
  maxConnectionsPerIp: count(1, 1_000_000).default(RELAY_DEFAULTS.maxConnectionsPerIp),
  connectionRatePerIp: count(1, 1_000_000).default(RELAY_DEFAULTS.connectionRatePerIp),
  maxPendingConnections: count(1, 100_000).default(RELAY_DEFAULTS.maxPendingConnections),
  circuitDurationMs: count(1_000, 24 * 60 * 60 * 1000).default(RELAY_DEFAULTS.circuitDurationMs),
  circuitDataBytes: byteCount(1024).default(RELAY_DEFAULTS.circuitDataBytes)
})

export const relayConfigSchema = z.strictObject({
  listen: z.array(multiaddrString).min(1, 'needs at least one address').default([...RELAY_DEFAULTS.listen]),
  /** Addresses to advertise instead of the listening ones (public IP, DNS name behind a TLS proxy). */
  announce: z.array(multiaddrString).default([]),
  http: hostPort.default(RELAY_DEFAULTS.http),
  data: z.string().min(1, 'must name a directory').default(RELAY_DEFAULTS.data),
  bootstrap: z.array(multiaddrString.refine(value => value.includes('/p2p/'), 'must end in /p2p/<peer id>')).default([]),
  origin: z.boolean().default(false),
  json: z.boolean().default(false),
  heapGrowingPercent: count(0, 1000).default(RELAY_DEFAULTS.heapGrowingPercent),
  /** Key service (origin): the chain's JSON-RPC URL. */
  rpc: httpUrl.optional(),
  /** Key service (origin): the deployment file with the registry and pool addresses. */
  deployment: z.string().min(1).optional(),
  /** Key service (origin): file holding the publisher's key that signs grants. */
  publisherKeyFile: z.string().min(1).optional(),
  /** Key service (origin): the host:port key requests must name; the HTTP address by default. */
  keyDomain: hostPort.optional(),
  limits: relayLimitsSchema.default(relayLimitsSchema.parse({}))
})

export type RelayConfig = z.output<typeof relayConfigSchema>
export type RelayConfigInput = z.input<typeof relayConfigSchema>
export type RelayLimits = z.output<typeof relayLimitsSchema>
