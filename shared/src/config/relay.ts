/** Configuration of a relay node (`peerloom-relay`), from flags, PEERLOOM_* variables and defaults. */
import { z } from 'zod'
import { byteCount, hostPort, multiaddrString } from './fields.ts'

/** Defaults sized for one 2-core machine; see relay-node/README.md. */
export const RELAY_DEFAULTS = {
  listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'],
  http: '127.0.0.1:8080',
  data: './peerloom-relay-data',
  maxReservations: 2048,
  maxReservationsPerPeer: 1,
  maxReservationsPerIp: 64,
  reservationTtlMs: 2 * 60 * 60 * 1000,
  maxConnections: 4096,
  /** Relayed (limited) connections carry signalling only: WebRTC SDP and ICE, identify, routing. */
  circuitDurationMs: 2 * 60 * 1000,
  circuitDataBytes: 1024 * 1024,
  maxInboundHopStreams: 4096
} as const

export const relayLimitsSchema = z.strictObject({
  maxReservations: z.number().int().min(1).max(1_000_000).default(RELAY_DEFAULTS.maxReservations),
  maxReservationsPerPeer: z.number().int().min(1).max(16).default(RELAY_DEFAULTS.maxReservationsPerPeer),
  maxReservationsPerIp: z.number().int().min(1).max(1_000_000).default(RELAY_DEFAULTS.maxReservationsPerIp),
  reservationTtlMs: z.number().int().min(10_000).default(RELAY_DEFAULTS.reservationTtlMs),
  maxConnections: z.number().int().min(16).max(1_000_000).default(RELAY_DEFAULTS.maxConnections),
  circuitDurationMs: z.number().int().min(1_000).default(RELAY_DEFAULTS.circuitDurationMs),
  circuitDataBytes: byteCount(1024).default(RELAY_DEFAULTS.circuitDataBytes),
  maxInboundHopStreams: z.number().int().min(1).default(RELAY_DEFAULTS.maxInboundHopStreams)
})

export const relayConfigSchema = z.strictObject({
  listen: z.array(multiaddrString).min(1, 'needs at least one address').default([...RELAY_DEFAULTS.listen]),
  announce: z.array(multiaddrString).default([]),
  http: hostPort.default(RELAY_DEFAULTS.http),
  data: z.string().min(1).default(RELAY_DEFAULTS.data),
  bootstrap: z.array(multiaddrString).default([]),
  origin: z.boolean().default(false),
  json: z.boolean().default(false),
  limits: relayLimitsSchema.default(relayLimitsSchema.parse({}))
})

export type RelayConfig = z.output<typeof relayConfigSchema>
export type RelayConfigInput = z.input<typeof relayConfigSchema>
