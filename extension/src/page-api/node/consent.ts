/**
 * Which origins the user let use Peerloom (or refused). Stored in IndexedDB, never in memory
 * alone: the service worker may be stopped and the options page revokes from its own context,
 * so every check reads the database.
 */
import { DENIAL_QUIET_MS } from '../constants.ts'
import type { ConsentRecord, PageApiDb } from './page-db.ts'

export type { ConsentRecord }

/** When a refused origin may open the prompt again (ms since the epoch); undefined when not refused. */
export function askAgainAt (record: ConsentRecord | undefined): number | undefined {
  if (record?.decision !== 'denied') return undefined
  const denials = Math.max(1, record.denials ?? 1)
  return record.at + DENIAL_QUIET_MS[Math.min(denials, DENIAL_QUIET_MS.length) - 1]!
}

export class ConsentStore {
  private readonly db: PageApiDb

  constructor (db: PageApiDb) {
    this.db = db
  }

  async get (origin: string): Promise<ConsentRecord | undefined> {
    return await this.db.get('consent', origin)
  }

  async isAllowed (origin: string): Promise<boolean> {
    return (await this.get(origin))?.decision === 'allowed'
  }

  /** Records the user's answer; a Deny counts the Denies in a row (each makes the site wait longer). */
  async set (origin: string, decision: ConsentRecord['decision'], at = Date.now()): Promise<void> {
    const previous = decision === 'denied' ? await this.get(origin) : undefined
    const denials = decision === 'denied' ? (previous?.decision === 'denied' ? (previous.denials ?? 1) : 0) + 1 : undefined
    await this.db.put('consent', { origin, decision, at, ...(denials === undefined ? {} : { denials }) })
  }

  /** Forgets the origin's decision: it must ask again, and is refused until it does. */
  async revoke (origin: string): Promise<void> {
    await this.db.delete('consent', origin)
  }

  async list (): Promise<ConsentRecord[]> {
    return (await this.db.getAll('consent')).sort((a, b) => b.at - a.at)
  }
}

/** Forgets everything about `origin`: its consent, its stats and which content it fetched. */
export async function forgetOrigin (db: PageApiDb, origin: string): Promise<void> {
  const range = IDBKeyRange.bound(`${origin} `, `${origin} \uffff`)
  const tx = db.transaction(['consent', 'stats', 'seen', 'content'], 'readwrite')
  await Promise.all([
    tx.objectStore('consent').delete(origin),
    tx.objectStore('stats').delete(origin),
    tx.objectStore('seen').delete(range),
    tx.objectStore('content').delete(range),
    tx.done
  ])
}
