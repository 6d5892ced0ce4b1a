/**
 * `peerloom-relay` flags and PEERLOOM_* variables → a validated RelayNodeConfig. Flags win over
 * variables, variables over defaults. Every failure is a ConfigError naming the flag, its
 * variable and the value, so the entry point can exit 2 with it.
 */
import { multiaddr } from '@multiformats/multiaddr'
// subpath imports keep argument parsing light: a bad flag is reported before the stack loads
import { ConfigError } from '@peerloom/shared/errors'
import type { PeerloomError } from '@peerloom/shared/errors'
import { parseConfig } from '@peerloom/shared/config/parse'
import { RELAY_DEFAULTS } from '@peerloom/shared/config/relay'
import { relayNodeConfigSchema } from '../config.ts'
import type { RelayNodeConfig } from '../config.ts'
import { DEFAULT_HOLDER_CHECK_MS, DEFAULT_MAX_ROOMS } from '../constants.ts'
import { parseOptions } from './args.ts'

type Kind = 'list' | 'string' | 'bool' | 'int'

interface Option {
  flag: string
  env: string
  kind: Kind
  /** Where the value goes in RelayConfig. */
  path: [string] | ['limits', string]
  help: string
}

const option = (flag: string, kind: Kind, path: Option['path'], help: string): Option =>
  ({ flag, env: `PEERLOOM_${flag.toUpperCase().replaceAll('-', '_')}`, kind, path, help })

export const RELAY_OPTIONS: readonly Option[] = [
  option('listen', 'list', ['listen'], `libp2p address to listen on; repeatable (default ${RELAY_DEFAULTS.listen.join(' and ')})`),
  option('announce', 'list', ['announce'], 'address to advertise instead of the listening ones, e.g. behind a TLS proxy; repeatable'),
  option('http', 'string', ['http'], `host:port of the HTTP API: health, metrics, routing, gateway (default ${RELAY_DEFAULTS.http})`),
  option('data', 'string', ['data'], `directory for the identity, peer store, DHT records and origin blocks; created if missing, but only inside an existing parent (default ${RELAY_DEFAULTS.data})`),
  option('bootstrap', 'list', ['bootstrap'], 'another relay to join the DHT through, ending in /p2p/<peer id>; repeatable'),
  option('origin', 'bool', ['origin'], 'also act as an origin: store, serve and announce published content'),
  option('json', 'bool', ['json'], 'print one JSON line {"peerId","multiaddrs","http"} when ready instead of one address per line'),
  option('rpc', 'string', ['rpc'], 'key service (with --origin): JSON-RPC URL of the chain with the ContentRegistry'),
  option('deployment', 'string', ['deployment'], 'key service: deployment JSON (registry and pool addresses), as the contracts\' deploy script writes it'),
  option('publisher-key-file', 'string', ['publisherKeyFile'], 'key service: file with the publisher\'s key that signs grants (PEERLOOM_PUBLISHER_KEY may hold the key itself)'),
  option('key-domain', 'string', ['keyDomain'], 'key service: the host:port viewers reach this origin at, which key requests must name (default: the --http address)'),
  option('holder-check-ms', 'int', ['holderCheckMs'], `key service: how often the holders granted a gated room's key are re-checked against its policy; one who falls below it is removed and the room re-keyed (default ${DEFAULT_HOLDER_CHECK_MS})`),
  option('max-rooms', 'int', ['maxRooms'], `call room topics (gossipsub) carried at once (default ${DEFAULT_MAX_ROOMS})`),
  option('max-reservations', 'int', ['limits', 'maxReservations'], `relay reservations held at once (default ${RELAY_DEFAULTS.maxReservations})`),
  option('max-reservations-per-ip', 'int', ['limits', 'maxReservationsPerIp'], `reservations from one IP address (default ${RELAY_DEFAULTS.maxReservationsPerIp})`),
  option('max-circuits-per-peer', 'int', ['limits', 'maxCircuitsPerPeer'], `relayed connections one peer takes part in at once (default ${RELAY_DEFAULTS.maxCircuitsPerPeer})`),
  option('reservation-ttl-ms', 'int', ['limits', 'reservationTtlMs'], `how long a reservation lasts unless refreshed (default ${RELAY_DEFAULTS.reservationTtlMs})`),
  option('max-connections', 'int', ['limits', 'maxConnections'], `libp2p connections before pruning (default ${RELAY_DEFAULTS.maxConnections})`),
  option('max-connections-per-ip', 'int', ['limits', 'maxConnectionsPerIp'], `connections held from one IP address (default ${RELAY_DEFAULTS.maxConnectionsPerIp})`),
  option('connection-rate-per-ip', 'int', ['limits', 'connectionRatePerIp'], `new connections per second from one IP address (default ${RELAY_DEFAULTS.connectionRatePerIp})`),
  option('max-pending-connections', 'int', ['limits', 'maxPendingConnections'], `connections in the handshake at once (default ${RELAY_DEFAULTS.maxPendingConnections})`),
  option('circuit-duration-ms', 'int', ['limits', 'circuitDurationMs'], `lifetime of one relayed connection (default ${RELAY_DEFAULTS.circuitDurationMs})`),
  option('heap-growing-percent', 'int', ['heapGrowingPercent'], `how far V8 may grow the heap past its live set between full GCs; 0 = V8's default (default ${RELAY_DEFAULTS.heapGrowingPercent})`),
  option('circuit-data-bytes', 'int', ['limits', 'circuitDataBytes'], `bytes one relayed connection may carry (default ${RELAY_DEFAULTS.circuitDataBytes})`)
]

export const RELAY_USAGE = `Usage: peerloom-relay [options]

Runs a Peerloom relay: circuit relay v2, Kademlia DHT, delegated routing over HTTP,
/health and /metrics, gossipsub for call rooms; with --origin also stores, serves and
announces published content and, with the key service's flags, grants keys of gated content
and rooms.

Options (each also as an environment variable; lists are comma-separated there):
${RELAY_OPTIONS.map(o => `  --${o.flag}${o.kind === 'bool' ? '' : ' <value>'}\n      ${o.env}: ${o.help}`).join('\n')}
  --help       show this help
  --version    print the version

Port 0 in --listen or --http picks a free port. SIGTERM or SIGINT drains and stops.
Exit status: 0 after a clean stop, 1 on a runtime failure, 2 on invalid configuration.
`

export type RelayArgs = { kind: 'run', config: RelayNodeConfig } | { kind: 'help' } | { kind: 'version' }

const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off', ''])

function bad (opt: Option, source: 'flag' | 'env', value: unknown, problem: string): PeerloomError {
  const name = source === 'flag' ? `--${opt.flag}` : opt.env
  return new ConfigError(`${name}: ${problem} (got ${JSON.stringify(value)})`, { data: { flag: opt.flag, env: opt.env } })
}

function convert (opt: Option, source: 'flag' | 'env', value: string | boolean | string[]): unknown {
  switch (opt.kind) {
    case 'bool':
      if (typeof value === 'boolean') return value
      if (TRUE.has(String(value).toLowerCase())) return true
      if (FALSE.has(String(value).toLowerCase())) return false
      throw bad(opt, source, value, 'must be true or false')
    case 'int':
      if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) throw bad(opt, source, value, 'must be a whole number')
      return Number(value.trim())
    case 'list': {
      const items = Array.isArray(value) ? value : String(value).split(/[\s,]+/).filter(item => item !== '')
      for (const item of items) {
        try {
          multiaddr(item)
        } catch (err) {
          throw bad(opt, source, item, `is not a multiaddr: ${(err as Error).message}`)
        }
      }
      return items
    }
    default:
      return String(value)
  }
}

/** Only TCP and WebSockets (plain; TLS belongs to a proxy in front) can be listened on. */
function checkListen (addr: string): string | undefined {
  const names = multiaddr(addr).getComponents().map(component => component.name)
  const [ip, transport, ...rest] = names
  if (!['ip4', 'ip6', 'dns4', 'dns6'].includes(ip ?? '') || transport !== 'tcp') return 'must be an /ip4 or /ip6 TCP address'
  if (rest.length === 0 || (rest.length === 1 && rest[0] === 'ws')) return undefined
  if (rest[0] === 'tls' || rest[0] === 'wss') return 'TLS is terminated by a proxy in front of the relay; listen on /ws and --announce the /tls/ws address (see README)'
  return 'must be a TCP or WebSockets (/ws) address'
}

/** Parses argv and env into a relay configuration; throws ConfigError on anything invalid. */
export function parseRelayArgs (argv: string[], env: NodeJS.ProcessEnv): RelayArgs {
  const options: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = { help: { type: 'boolean' }, version: { type: 'boolean' } }
  for (const opt of RELAY_OPTIONS) options[opt.flag] = opt.kind === 'bool' ? { type: 'boolean' } : { type: 'string', ...(opt.kind === 'list' ? { multiple: true } : {}) }
  const { values } = parseOptions(argv, options, 'peerloom-relay', false)
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }

  const input: Record<string, unknown> & { limits: Record<string, unknown> } = { limits: {} }
  const sourceOf = new Map<string, { opt: Option, source: 'flag' | 'env', value: unknown }>()
  for (const opt of RELAY_OPTIONS) {
    const flagValue = values[opt.flag]
    const envValue = env[opt.env]
    const source = flagValue !== undefined ? 'flag' : envValue !== undefined ? 'env' : undefined
    if (source === undefined) continue
    const raw = (source === 'flag' ? flagValue : envValue) as string | boolean | string[]
    const value = convert(opt, source, raw)
    if (opt.path.length === 1) input[opt.path[0]] = value
    else input.limits[opt.path[1]] = value
    sourceOf.set(opt.path.join('.'), { opt, source, value })
  }

  let config: RelayNodeConfig
  try {
    config = parseConfig(relayNodeConfigSchema, input)
  } catch (err) {
    // name the flag or variable the operator wrote, not the schema path
    const path = ((err as PeerloomError).data?.path as string | undefined)?.replace(/^config\./, '') ?? ''
    const key = [...sourceOf.keys()].find(candidate => path === candidate || path.startsWith(`${candidate}.`))
    const origin = key === undefined ? undefined : sourceOf.get(key)
    if (origin === undefined) throw err
    const detail = (err as Error).message.replace(/^config\.[^:]*: /, '')
    throw new ConfigError(`${origin.source === 'flag' ? `--${origin.opt.flag}` : origin.opt.env}: ${detail}`, { cause: err, data: { flag: origin.opt.flag, env: origin.opt.env } })
  }
  for (const addr of config.listen) {
    const problem = checkListen(addr)
    if (problem !== undefined) {
      const origin = sourceOf.get('listen')
      throw new ConfigError(`${origin?.source === 'env' ? 'PEERLOOM_LISTEN' : '--listen'}: ${addr} ${problem}`, { data: { flag: 'listen', env: 'PEERLOOM_LISTEN' } })
    }
  }
  return { kind: 'run', config }
}
