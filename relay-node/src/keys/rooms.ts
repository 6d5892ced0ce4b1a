/**
 * Token-gated rooms (docs/CALLS.md): a room is a content id registered in the ContentRegistry
 * with an access policy, whose key the origin's key service grants like a gated content's.
 *
 * - `registerRoom` (behind `peerloom room create`) makes a fresh 32-byte room key, stores it
 *   as key version 1 in the origin's key store and registers the room on chain with its
 *   policy, reward rate and budget (so forwarded bytes earn receipts).
 * - `RoomHolders` remembers, per room, the accounts the key service granted the key, and
 *   re-checks their balances every `checkMs`. When one has fallen below the policy it is
 *   removed and the room re-keyed: a new key version in the key store, `updateManifest` on
 *   chain (the rotation `peerloom publish --rotate` uses), then the `rekey` notice on the room
 *   topic. The removed holder's next request fails the policy check (5011) like anyone's.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { getAddress } from 'ethers'
import type { Wallet } from 'ethers'
import { ConfigError, randomBytes, toHex } from '@peerloom/shared'
import { GATED_ROOM_MANIFEST } from '@peerloom/shared/calls/gated-room'
import type { KeyStore } from './key-store.ts'
import { registerContent } from './publish-chain.ts'
import type { ChainRegistration } from './publish-chain.ts'
import type { AccessPolicy, Registry } from './registry.ts'

/** The 32-byte room key, AES-256-GCM (CALLS.md, Room messages). */
export const ROOM_KEY_BYTES = 32
/**
 * What a room grant allows by default: a day (the grant's life) of forwarded media at about
 * 0.75 Mbit/s. @default 8 GiB
 */
export const DEFAULT_ROOM_GRANT_BYTES = 8n * 1024n * 1024n * 1024n
/** The file in a room's key folder listing its holders. */
export const HOLDERS_FILE = 'holders.json'
/** Holders checked at once, so a large room does not open hundreds of RPC calls together. @default 8 */
const CHECK_CONCURRENCY = 8

export interface RoomRegistration {
  room: string
  topic: string
  keyVersion: number
  /** The registration, and the forwarded bytes one holder's grant may be receipted for. */
  registration: ChainRegistration & { grantBytes: string }
}

/** Stores a fresh room key as version 1 and registers the room on chain. */
export async function registerRoom (options: {
  keys: KeyStore
  registry: Registry
  publisher: Wallet
  roomId: string
  policy: AccessPolicy
  ratePerByte: bigint
  budget: bigint
  budgetDays: number
  grantBytes: bigint
}): Promise<RoomRegistration> {
  const { keys, registry, roomId } = options
  const existing = await registry.content(roomId)
  if (existing !== undefined) throw new ConfigError(`${roomId} is already registered (by ${existing.publisher}); pick another --content-id or leave it out for a random one`)
  // a key stored by an earlier attempt whose registration failed is reused, not refused
  const stored = await keys.load(roomId, 1)
  if (stored !== undefined && stored.room === undefined) throw new ConfigError(`${roomId} already has a content key in this origin; a room needs its own content id`)
  if (stored === undefined) {
    await keys.save({ contentId: roomId, keyVersion: 1, key: randomBytes(ROOM_KEY_BYTES), manifest: GATED_ROOM_MANIFEST, size: 0, chunkSize: 0, room: { grantBytes: options.grantBytes } })
  }
  const registration = await registerContent(registry, options.publisher, {
    contentId: roomId,
    manifestCid: GATED_ROOM_MANIFEST,
    keyVersion: 1,
    policy: options.policy,
    ratePerByte: options.ratePerByte,
    budget: options.budget,
    budgetDays: options.budgetDays
  })
  return {
    room: roomId,
    topic: `/peerloom/room/1/${roomId.slice(2)}`,
    keyVersion: 1,
    registration: { ...registration, grantBytes: (stored?.room?.grantBytes ?? options.grantBytes).toString() }
  }
}

export interface RoomHoldersInit {
  keys: KeyStore
  registry: Registry
  /** The publisher key: it signs the rotation's `updateManifest`. */
  publisher: Wallet
  /** How often holders are re-checked. */
  checkMs: number
  /** Called after a rotation is on chain: publish the rekey notice. */
  onRekey?: (roomId: string, keyVersion: number) => Promise<void>
  log?: (line: string) => void
}

/** What a room's holders file holds: each holder's address and when it was first granted the key. */
interface HoldersFile {
  room: string
  holders: Record<string, number>
}

export class RoomHolders {
  private readonly init: RoomHoldersInit
  private readonly rooms = new Map<string, Map<string, number>>()
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  private checking?: Promise<void>
  /** Writes and rotations of one room, in order. */
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor (init: RoomHoldersInit) {
    this.init = init
  }

  /** Reads the holders of every room this origin keeps keys for. */
  async open (): Promise<void> {
    for (const roomId of await this.init.keys.contentIds()) {
      let text: string
      try {
        text = await readFile(join(this.init.keys.dirOf(roomId), HOLDERS_FILE), 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      try {
        const file = JSON.parse(text) as HoldersFile
        this.rooms.set(roomId, new Map(Object.entries(file.holders).map(([address, since]) => [getAddress(address), Number(since)])))
      } catch (err) {
        this.init.log?.(`ignoring the unreadable holder list of room ${roomId}: ${(err as Error).message}`)
      }
    }
  }

  /** Holders of `roomId` now. */
  holders (roomId: string): string[] {
    return [...this.rooms.get(roomId.toLowerCase())?.keys() ?? []]
  }

  /** Remembers that `address` was granted `roomId`'s key. */
  async admit (roomId: string, address: string): Promise<void> {
    const id = roomId.toLowerCase()
    const holder = getAddress(address)
    let holders = this.rooms.get(id)
    if (holders?.has(holder) === true) return
    holders ??= new Map()
    holders.set(holder, Date.now())
    this.rooms.set(id, holders)
    await this.inOrder(id, async () => { await this.save(id) })
  }

  start (): void {
    this.running = true
    this.schedule()
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.checking
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      this.checking = this.checkAll().finally(() => {
        this.checking = undefined
        this.schedule()
      })
    }, this.init.checkMs)
    this.timer.unref()
  }

  /** One round: every holder of every room against the room's policy. */
  async checkAll (): Promise<void> {
    for (const roomId of [...this.rooms.keys()]) {
      if (!this.running) return
      try {
        await this.checkRoom(roomId)
      } catch (err) {
        // the chain being unreachable must not remove anyone: the next round tries again
        this.init.log?.(`cannot check the holders of room ${roomId}: ${(err as Error).message}`)
      }
    }
  }

  private async checkRoom (roomId: string): Promise<void> {
    const { registry } = this.init
    const holders = this.rooms.get(roomId)
    if (holders === undefined || holders.size === 0) return
    const content = await registry.content(roomId)
    if (content === undefined) return
    const below: Array<{ address: string, balance: bigint }> = []
    const queue = [...holders.keys()]
    await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, queue.length) }, async () => {
      for (let address = queue.shift(); address !== undefined; address = queue.shift()) {
        const { allowed, balance } = await registry.access(roomId, content.policy, address)
        if (!allowed) below.push({ address, balance })
      }
    }))
    if (below.length === 0) return
    await this.inOrder(roomId, async () => { await this.rotate(roomId, content.keyVersion, below) })
  }

  /** Removes `below` from the room and gives it a new key version, on disk, on chain and on the topic. */
  private async rotate (roomId: string, current: number, below: Array<{ address: string, balance: bigint }>): Promise<void> {
    const { keys, registry, publisher } = this.init
    const stored = await keys.load(roomId, current)
    if (stored === undefined) throw new Error(`this origin has no key version ${current} of room ${roomId}`)
    const next = Math.max(current, await keys.latestVersion(roomId) ?? current) + 1
    await keys.save({ ...stored, keyVersion: next, key: randomBytes(ROOM_KEY_BYTES) })
    const { tx } = await registry.updateManifest(publisher.connect(registry.provider), roomId, GATED_ROOM_MANIFEST, next)
    const holders = this.rooms.get(roomId)
    for (const { address } of below) holders?.delete(address)
    await this.save(roomId)
    this.init.log?.(`room ${roomId}: removed ${below.map(({ address, balance }) => `${address} (holds ${balance})`).join(', ')}; re-keyed to version ${next} (${tx})`)
    await this.init.onRekey?.(roomId, next)
  }

  private async save (roomId: string): Promise<void> {
    const file: HoldersFile = { room: roomId, holders: Object.fromEntries(this.rooms.get(roomId) ?? []) }
    const target = join(this.init.keys.dirOf(roomId), HOLDERS_FILE)
    const temp = `${target}.${toHex(randomBytes(4)).slice(2)}.tmp`
    await writeFile(temp, JSON.stringify(file) + '\n', { mode: 0o600 })
    await rename(temp, target)
  }

  private async inOrder (roomId: string, task: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(roomId) ?? Promise.resolve()
    const run = previous.catch(() => {}).then(task)
    this.queues.set(roomId, run)
    try {
      await run
    } finally {
      if (this.queues.get(roomId) === run) this.queues.delete(roomId)
    }
  }
}
