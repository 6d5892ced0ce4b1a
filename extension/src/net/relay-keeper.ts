/**
 * Keeps the node connected to its configured relays: dials each, and re-dials with
 * exponential backoff when one goes away. The circuit relay transport makes and renews
 * reservations on whichever configured relays are connected, so while one relay is down
 * the node stays reachable through another.
 */
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { RELAY_BACKOFF_MAX_MS, RELAY_BACKOFF_MIN_MS, RELAY_CHECK_INTERVAL_MS, RELAY_DIAL_TIMEOUT_MS } from '../constants.ts'

export interface RelayKeeperComponents {
  /** Scoped logger (`peerloom:relay-keeper`). */
  log?: Logger
  dial: (addr: Multiaddr, options: { signal: AbortSignal }) => Promise<Connection>
  getConnections: (peer: PeerId) => Connection[]
  getMultiaddrs: () => Multiaddr[]
  /** Called when a relay's status changed (connected, reserved, a dial failed): the node tells the popup. */
  onChange?: () => void
}

export interface RelayStatus {
  addr: string
  peerId: string
  connected: boolean
  /** This node holds a reservation on the relay (it is reachable through it). */
  reserved: boolean
  lastError?: string
  /** When the next reconnection attempt is due (ms since the epoch), while disconnected. */
  nextAttemptAt?: number
  attempts: number
}

interface RelayState {
  addr: Multiaddr
  peerId: PeerId
  status: RelayStatus
  backoff: number
  nextAttemptAt: number
  dialing: boolean
}

export interface RelayKeeperInit {
  relays: string[]
  /** @default RELAY_CHECK_INTERVAL_MS */
  checkIntervalMs?: number
}

export class RelayKeeper {
  private readonly components: RelayKeeperComponents
  private readonly relays: RelayState[]
  private readonly checkIntervalMs: number
  private timer?: ReturnType<typeof setInterval>
  private controller = new AbortController()

  constructor (components: RelayKeeperComponents, init: RelayKeeperInit) {
    this.components = components
    this.checkIntervalMs = init.checkIntervalMs ?? RELAY_CHECK_INTERVAL_MS
    this.relays = init.relays.map(text => {
      const addr = multiaddr(text)
      const peerId = addr.getComponents().findLast(c => c.name === 'p2p')?.value
      if (peerId === undefined) throw new Error(`relay address ${text} does not end in /p2p/<peer id>`)
      return { addr, peerId: peerIdFromString(peerId), status: { addr: text, peerId, connected: false, reserved: false, attempts: 0 }, backoff: RELAY_BACKOFF_MIN_MS, nextAttemptAt: 0, dialing: false }
    })
  }

  start (): void {
    this.controller = new AbortController()
    this.check()
    this.timer = setInterval(() => { this.check() }, this.checkIntervalMs)
  }

  stop (): void {
    clearInterval(this.timer)
    this.controller.abort(new Error('relay keeper stopped'))
  }

  /** Checks every relay now and dials those that are down and due. */
  check (): void {
    const now = Date.now()
    const addrs = this.components.getMultiaddrs().map(ma => ma.toString())
    const before = JSON.stringify(this.status())
    for (const relay of this.relays) {
      const id = relay.status.peerId
      const connected = this.components.getConnections(relay.peerId).some(c => c.status === 'open' && c.limits === undefined)
      relay.status.connected = connected
      relay.status.reserved = addrs.some(a => a.includes(`/p2p/${id}/p2p-circuit`))
      if (connected) {
        relay.backoff = RELAY_BACKOFF_MIN_MS
        delete relay.status.nextAttemptAt
        continue
      }
      if (relay.dialing || now < relay.nextAttemptAt) continue
      relay.dialing = true
      relay.status.attempts++
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(RELAY_DIAL_TIMEOUT_MS)])
      this.components.dial(relay.addr, { signal }).then(connection => {
        relay.status.connected = connection.status === 'open'
        delete relay.status.lastError
        relay.backoff = RELAY_BACKOFF_MIN_MS
      }, (err: Error) => {
        this.components.log?.('dial to relay %s failed, next in %d ms: %s', relay.status.addr, relay.backoff, err.message)
        relay.status.lastError = err.message
        relay.nextAttemptAt = Date.now() + relay.backoff
        relay.status.nextAttemptAt = relay.nextAttemptAt
        relay.backoff = Math.min(RELAY_BACKOFF_MAX_MS, relay.backoff * 2)
      }).finally(() => {
        relay.dialing = false
        this.components.onChange?.()
      })
    }
    if (JSON.stringify(this.status()) !== before) this.components.onChange?.()
  }

  status (): RelayStatus[] {
    return this.relays.map(relay => ({ ...relay.status }))
  }
}
