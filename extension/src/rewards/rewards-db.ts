/**
 * The rewards' own IndexedDB database (`peerloom-rewards`): receipts this node received as a
 * server, its epochs and their claims, and the grants (with content keys) it received as a
 * viewer. Amounts are decimal strings: IndexedDB keys and values stay plain.
 */
import type { DBSchema, IDBPDatabase } from 'idb'
import { defineDatabase } from '../storage/database.ts'

/** A client's latest receipt for one content in one epoch, with its grant. */
export interface StoredReceipt {
  /** `${epoch}/${contentId}/${client}` */
  id: string
  epoch: string
  contentId: string
  client: string
  bytes: string
  signature: string
  grant: { client: string, contentId: string, maxBytes: string, expiry: string }
  grantSignature: string
  receivedAt: number
}

export type EpochStatus = 'open' | 'closed' | 'submitted' | 'paid'

/** One epoch of this server, and what became of its claim. */
export interface StoredEpoch {
  epoch: string
  status: EpochStatus
  openedAt: number
  closedAt?: number
  /** Sum of the latest receipts' bytes. */
  bytes: string
  receipts: number
  /** The claim transaction (submitted or paid). */
  txHash?: string
  /** Tokens (base units) the claim paid. */
  paid?: string
  /** Bytes the pool paid for (receipts capped by their grants). */
  claimedBytes?: string
  paidAt?: number
  /** The last failed attempt, kept for the popup; the claim is retried. */
  lastError?: string
  attempts: number
}

/** A grant and content key from a publisher's key service. */
export interface StoredGrant {
  contentId: string
  keyVersion: number
  manifest: string
  /** The unwrapped content key: it never leaves the extension. */
  key: Uint8Array
  grant: { client: string, contentId: string, maxBytes: string, expiry: string }
  grantSignature: string
  publisher: string
  receivedAt: number
}

export interface RewardsSchema extends DBSchema {
  receipts: { key: string, value: StoredReceipt, indexes: { epoch: string } }
  epochs: { key: string, value: StoredEpoch }
  grants: { key: string, value: StoredGrant }
  kv: { key: string, value: unknown }
}

export type RewardsDb = IDBPDatabase<RewardsSchema>

/** @default 'peerloom-rewards' */
export const REWARDS_DB_NAME = 'peerloom-rewards'

const rewardsDatabase = defineDatabase<RewardsSchema>(REWARDS_DB_NAME, [
  db => {
    db.createObjectStore('receipts', { keyPath: 'id' }).createIndex('epoch', 'epoch')
    db.createObjectStore('epochs', { keyPath: 'epoch' })
    db.createObjectStore('grants', { keyPath: 'contentId' })
    db.createObjectStore('kv')
  }
])

export async function openRewardsDb (name = REWARDS_DB_NAME): Promise<RewardsDb> {
  return await rewardsDatabase.open(name)
}
