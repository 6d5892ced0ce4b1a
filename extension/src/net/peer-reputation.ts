/**
 * What this node remembers about provider peers that misbehaved, across fetch sessions and
 * restarts: a peer that sent bytes not matching their CID is banned for a long time (it is
 * never dialled or asked again until the ban ends); a peer that stalled or cut its answers
 * short is demoted for a while (asked only when no other peer and no origin can deliver),
 * longer each time it happens again.
 *
 * @example
 * ```ts
 * const reputation = new PeerReputation({ store })
 * await reputation.start()
 * reputation.penalize(peer, 'integrity', 'block … does not match its CID')
 * reputation.standing(peer) // { kind: 'banned', until, reason }
 * ```
 */

import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'

/**
 * How long a peer that sent a block not matching its CID stays banned.
 * @default 24 h
 */
export const PEER_BAN_MS = 24 * 60 * 60_000

/**
 * How long a first stall or failure demotes a peer; each further strike doubles it, up to the maximum.
 * @default 5 min / 1 h
 */
export const PEER_DEMOTION_MS = 5 * 60_000
export const PEER_DEMOTION_MAX_MS = 60 * 60_000

/**
 * How long strikes are remembered after a peer's last offence.
 * @default 24 h
 */
export const PEER_STRIKE_MEMORY_MS = 24 * 60 * 60_000

/**
 * Peers remembered at most (the oldest offences are forgotten first).
 * @default 1_000
 */
export const PEER_REPUTATION_MAX_RECORDS = 1_000

/** Why a peer lost standing. `integrity` bans; the others demote. */
export type Offence = 'integrity' | 'stalled' | 'failed'

/** One peer's record as it is stored. */
export interface ReputationRecord {
  peer: string
  /** Stalls and failures remembered (each lengthens the next demotion). */
  strikes: number
  /** ms since the epoch; absent unless banned. */
  bannedUntil?: number
  /** ms since the epoch; absent unless demoted. */
  demotedUntil?: number
  /** The last offence, for the popup and the transfer stats. */
  reason: string
  lastAt: number
}

export type Standing =
  | { kind: 'good' }
  | { kind: 'banned' | 'demoted', until: number, reason: string }

/** Where the records are kept. */
export interface ReputationStore {
  load: () => Promise<ReputationRecord[]>
  save: (records: ReputationRecord[]) => Promise<void>
}

export interface PeerReputationInit {
  store: ReputationStore
  now?: () => number
  /** Called when a peer is banned (the node hangs up on it). */
  onBanned?: (peer: string) => void
  /** Called when the list of banned and demoted peers changed (the node tells the popup). */
  onChange?: () => void
  /** Called when saving failed. */
  onError?: (err: unknown) => void
  /** Scoped logger. @default logger('peerloom:reputation') */
  log?: Logger
}

export class PeerReputation {
  private readonly store: ReputationStore
  private readonly now: () => number
  private readonly onBanned: (peer: string) => void
  private readonly onChange: () => void
  private readonly onError: (err: unknown) => void
  private readonly log: Logger
  private readonly records = new Map<string, ReputationRecord>()
  /** The save under way, if any; changes made meanwhile are saved after it. */
  private saving?: Promise<void>
  private dirty = false

  constructor (init: PeerReputationInit) {
    this.store = init.store
    this.now = init.now ?? Date.now
    this.onBanned = init.onBanned ?? (() => {})
    this.onChange = init.onChange ?? (() => {})
    this.onError = init.onError ?? (() => {})
    this.log = init.log ?? logger('peerloom:reputation')
  }

  async start (): Promise<void> {
    for (const record of await this.store.load()) this.records.set(record.peer, record)
    this.prune()
  }

  /** Waits for pending writes. */
  async stop (): Promise<void> {
    while (this.saving !== undefined) await this.saving
  }

  standing (peer: string): Standing {
    const record = this.records.get(peer)
    if (record === undefined) return { kind: 'good' }
    const now = this.now()
    if ((record.bannedUntil ?? 0) > now) return { kind: 'banned', until: record.bannedUntil as number, reason: record.reason }
    if ((record.demotedUntil ?? 0) > now) return { kind: 'demoted', until: record.demotedUntil as number, reason: record.reason }
    return { kind: 'good' }
  }

  isBanned (peer: string): boolean {
    return this.standing(peer).kind === 'banned'
  }

  /** Records an offence: bans for `integrity`, demotes (doubling per remembered strike) otherwise. */
  penalize (peer: string, offence: Offence, reason: string): Standing {
    const now = this.now()
    const record = this.records.get(peer) ?? { peer, strikes: 0, reason, lastAt: now }
    if (now - record.lastAt > PEER_STRIKE_MEMORY_MS) record.strikes = 0
    record.reason = reason
    record.lastAt = now
    if (offence === 'integrity') {
      record.bannedUntil = now + PEER_BAN_MS
    } else {
      record.strikes++
      record.demotedUntil = now + Math.min(PEER_DEMOTION_MAX_MS, PEER_DEMOTION_MS * 2 ** (record.strikes - 1))
    }
    this.records.set(peer, record)
    this.log('%s %s until %s: %s', offence === 'integrity' ? 'banned' : 'demoted', peer, new Date((offence === 'integrity' ? record.bannedUntil : record.demotedUntil) ?? now).toISOString(), reason)
    this.prune()
    this.save()
    if (offence === 'integrity') this.onBanned(peer)
    this.onChange()
    return this.standing(peer)
  }

  /** A verified block from a peer no longer demoted: one strike is forgiven. */
  credit (peer: string): void {
    const record = this.records.get(peer)
    if (record === undefined || record.strikes === 0 || this.standing(peer).kind !== 'good') return
    record.strikes--
    this.save()
  }

  /** Peers currently banned or demoted, most recent offence first. */
  list (): Array<{ peer: string } & Exclude<Standing, { kind: 'good' }>> {
    const out: Array<{ peer: string } & Exclude<Standing, { kind: 'good' }>> = []
    for (const record of this.records.values()) {
      const standing = this.standing(record.peer)
      if (standing.kind !== 'good') out.push({ peer: record.peer, ...standing })
    }
    return out.sort((a, b) => (this.records.get(b.peer)?.lastAt ?? 0) - (this.records.get(a.peer)?.lastAt ?? 0))
  }

  /** Forgets everything (the store too, at the next save). */
  reset (): void {
    this.records.clear()
    this.save()
    this.onChange()
  }

  /** Drops records with nothing left to remember, then the oldest beyond the cap. */
  private prune (): void {
    const now = this.now()
    for (const [peer, record] of this.records) {
      const active = (record.bannedUntil ?? 0) > now || (record.demotedUntil ?? 0) > now
      if (!active && (record.strikes === 0 || now - record.lastAt > PEER_STRIKE_MEMORY_MS)) this.records.delete(peer)
    }
    if (this.records.size <= PEER_REPUTATION_MAX_RECORDS) return
    const oldest = [...this.records.values()].sort((a, b) => a.lastAt - b.lastAt)
    for (const record of oldest.slice(0, this.records.size - PEER_REPUTATION_MAX_RECORDS)) this.records.delete(record.peer)
  }

  /** Writes every record; calls made while a write is under way are folded into one more. */
  private save (): void {
    this.dirty = true
    if (this.saving !== undefined) return
    this.saving = (async () => {
      while (this.dirty) {
        this.dirty = false
        try {
          await this.store.save([...this.records.values()].map(record => ({ ...record })))
        } catch (err) {
          this.log.error('could not save the records: %s', (err as Error).message)
          this.onError(err)
        }
      }
    })().finally(() => { this.saving = undefined })
  }
}
