/**
 * The calls' IndexedDB database (`peerloom-calls`): chat history per origin and room (the last
 * CHAT_HISTORY_LIMIT messages, so a rejoin after a restart shows it again) and forwarder
 * reputation (failures per forwarder peer id).
 */
import type { DBSchema, IDBPDatabase } from 'idb'
import { CHAT_HISTORY_LIMIT } from '@peerloom/shared/calls/room'
import type { ChatMessage } from '@peerloom/shared/calls/api'
import { defineDatabase } from '../storage/database.ts'

export interface StoredChatMessage extends ChatMessage {
  /** origin + "\n" + room id */
  room: string
}

export interface ForwarderRecord {
  peerId: string
  failures: number
  /** ms since the epoch */
  lastFailure: number
}

export interface CallsSchema extends DBSchema {
  chat: { key: number, value: StoredChatMessage, indexes: { room: string, message: [string, string, string] } }
  forwarders: { key: string, value: ForwarderRecord }
}

export type CallsDb = IDBPDatabase<CallsSchema>

/** @default 'peerloom-calls' */
export const CALLS_DB_NAME = 'peerloom-calls'

const callsDatabase = defineDatabase<CallsSchema>(CALLS_DB_NAME, [
  db => {
    const chat = db.createObjectStore('chat', { autoIncrement: true })
    chat.createIndex('room', 'room')
    chat.createIndex('message', ['room', 'from', 'id'], { unique: true })
    db.createObjectStore('forwarders', { keyPath: 'peerId' })
  }
])

export async function openCallsDb (name = CALLS_DB_NAME): Promise<CallsDb> {
  return await callsDatabase.open(name)
}

/** Chat history of each origin's rooms. */
export class ChatHistory {
  private readonly db: CallsDb
  private readonly limit: number

  constructor (db: CallsDb, limit = CHAT_HISTORY_LIMIT) {
    this.db = db
    this.limit = limit
  }

  /** The room's messages, oldest first. */
  async list (origin: string, roomId: string): Promise<ChatMessage[]> {
    const stored = await this.db.getAllFromIndex('chat', 'room', roomKey(origin, roomId))
    return stored.map(({ room: _room, ...message }) => message).sort((a, b) => a.at - b.at)
  }

  /** Keeps a message (once: the same sender and id again is ignored) and drops the oldest beyond the limit. False when it was a repeat. */
  async add (origin: string, roomId: string, message: ChatMessage): Promise<boolean> {
    const room = roomKey(origin, roomId)
    const tx = this.db.transaction('chat', 'readwrite')
    if (await tx.store.index('message').getKey([room, message.from, message.id]) !== undefined) {
      await tx.done
      return false
    }
    await tx.store.add({ ...message, room })
    let excess = await tx.store.index('room').count(room) - this.limit
    // the index orders a room's entries by primary key: insertion order, oldest first
    for (let cursor = excess > 0 ? await tx.store.index('room').openCursor(room) : null; cursor !== null && excess > 0; cursor = await cursor.continue()) {
      await cursor.delete()
      excess--
    }
    await tx.done
    return true
  }
}

function roomKey (origin: string, roomId: string): string {
  return `${origin}\n${roomId}`
}
