/** The node's own IndexedDB database: cached blocks, their bookkeeping, settings, identity, meters. */
import type { DBSchema, IDBPDatabase } from 'idb'
import { defineDatabase } from './database.ts'

/** A cached block's bookkeeping (`cache/cache-ledger.ts`). */
export interface LedgerEntry {
  bytes: number
  lastUsed: number
}

/** Bytes served to one client peer (`blocks/serve-meter.ts`). */
export interface ClientUsage {
  /** The client's peer id. */
  client: string
  bytes: number
  blocks: number
  firstAt: number
  lastAt: number
}

/** Served and received bytes in one 10 s bucket (`blocks/transfer-history.ts`). */
export interface HistoryBucket {
  /** Bucket start, ms since the epoch. */
  t: number
  served: number
  received: number
}

/** What the node knows about a piece of content it has opened or published. */
export interface ContentRecord {
  /** Manifest CID (the content's address). */
  manifest: string
  /** Ciphertext root CID. */
  root: string
  name: string
  size: number
  /** Published from this browser. */
  published: boolean
  lastUsed: number
}

export interface StateSchema extends DBSchema {
  /** Blobs; Uint8Arrays in caches written before blocks were stored as Blobs. */
  blocks: { key: string, value: Blob | Uint8Array }
  blockMeta: { key: string, value: LedgerEntry }
  kv: { key: string, value: unknown }
  meter: { key: string, value: ClientUsage }
  history: { key: number, value: HistoryBucket }
  content: { key: string, value: ContentRecord }
}

export type StateDb = IDBPDatabase<StateSchema>

/** @default 'peerloom' */
export const STATE_DB_NAME = 'peerloom'

const stateDatabase = defineDatabase<StateSchema>(STATE_DB_NAME, [
  db => {
    db.createObjectStore('blocks')
    db.createObjectStore('blockMeta')
    db.createObjectStore('kv')
    db.createObjectStore('meter', { keyPath: 'client' })
    db.createObjectStore('history', { keyPath: 't' })
    db.createObjectStore('content', { keyPath: 'manifest' })
  }
])

export async function openStateDb (name = STATE_DB_NAME): Promise<StateDb> {
  return await stateDatabase.open(name)
}

/** A value kept under one key of the `kv` store (received totals, peer reputation). */
export function kvRecord<T> (db: StateDb, key: string): { load: () => Promise<T | undefined>, save: (value: T) => Promise<void> } {
  return {
    load: async () => await db.get('kv', key) as T | undefined,
    save: async value => { await db.put('kv', value, key) }
  }
}

/** True for the errors IndexedDB raises when the origin's quota or the disk is full. */
export function isQuotaError (err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  return name === 'QuotaExceededError' || (name === 'UnknownError' && /space|quota|disk/i.test(String((err as Error).message)))
}
