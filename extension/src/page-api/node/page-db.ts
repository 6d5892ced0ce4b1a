/**
 * The page API's own IndexedDB database, shared by the node's document (which enforces
 * consent), the consent prompt and the options page (which lists and revokes): consent per
 * origin, each origin's transfer stats (in all and per content), and which content each origin
 * has fetched (for the cache-timing guard). Kept apart from the node's database so neither migrates the other.
 */
import type { DBSchema, IDBPDatabase } from 'idb'
import type { ContentStats, OriginStats } from '@peerloom/shared'
import { defineDatabase } from '../../storage/database.ts'

export interface ConsentRecord {
  origin: string
  decision: 'allowed' | 'denied'
  /** ms since the epoch. */
  at: number
  /** Denies in a row (each makes the site wait longer before it may ask again). */
  denials?: number
}

export interface PageApiSchema extends DBSchema {
  consent: { key: string, value: ConsentRecord }
  stats: { key: string, value: OriginStats }
  /** Key: `${origin} ${manifest cid}`; value: first fetch time. */
  seen: { key: string, value: number }
  /** Key: `${origin} ${manifest cid}`. */
  content: { key: string, value: ContentStats & { origin: string } }
}

export type PageApiDb = IDBPDatabase<PageApiSchema>

/** @default 'peerloom-page-api' */
export const PAGE_API_DB_NAME = 'peerloom-page-api'

const pageApiDatabase = defineDatabase<PageApiSchema>(PAGE_API_DB_NAME, [
  db => {
    db.createObjectStore('consent', { keyPath: 'origin' })
    db.createObjectStore('stats', { keyPath: 'origin' })
    db.createObjectStore('seen')
  },
  db => { db.createObjectStore('content') }
])

export async function openPageApiDb (name = PAGE_API_DB_NAME): Promise<PageApiDb> {
  return await pageApiDatabase.open(name)
}
