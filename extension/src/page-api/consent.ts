/**
 * Which origins the user let use Peerloom (or refused). Stored in IndexedDB, never in memory
 * alone: the service worker may be stopped and the options page revokes from its own context,
 * so every check reads the database.
 */
import type { ConsentRecord, PageApiDb } from './page-db.ts'

export type { ConsentRecord }

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

  async set (origin: string, decision: ConsentRecord['decision']): Promise<void> {
    await this.db.put('consent', { origin, decision, at: Date.now() })
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
  const tx = db.transaction(['consent', 'stats', 'seen'], 'readwrite')
  await Promise.all([
    tx.objectStore('consent').delete(origin),
    tx.objectStore('stats').delete(origin),
    tx.objectStore('seen').delete(IDBKeyRange.bound(`${origin} `, `${origin} \uffff`)),
    tx.done
  ])
}
