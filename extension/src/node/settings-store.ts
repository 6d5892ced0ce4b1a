/** The node's settings, validated by the shared schema and kept in the state database. */
import { logger } from '@libp2p/logger'
import { nodeSettingsSchema, parseConfig } from '@peerloom/shared'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import type { StateDb } from '../storage/state-db.ts'

const SETTINGS_KEY = 'settings'

const log = logger('peerloom:settings')

export class SettingsStore {
  private readonly db: StateDb
  private readonly defaults: NodeSettingsInput

  /** `defaults` come from the build (e.g. the devnet's relays) and apply until the user changes them. */
  constructor (db: StateDb, defaults: NodeSettingsInput = {}) {
    this.db = db
    this.defaults = defaults
  }

  async load (): Promise<NodeSettings> {
    const stored = await this.db.get('kv', SETTINGS_KEY) as NodeSettingsInput | undefined
    return parseConfig(nodeSettingsSchema, { ...this.defaults, ...stored }, 'settings')
  }

  /** Validates `patch` on top of the current settings, stores and returns the result. */
  async update (patch: NodeSettingsInput): Promise<NodeSettings> {
    const stored = await this.db.get('kv', SETTINGS_KEY) as NodeSettingsInput | undefined
    const next = { ...stored, ...patch }
    const parsed = parseConfig(nodeSettingsSchema, { ...this.defaults, ...next }, 'settings')
    await this.db.put('kv', next, SETTINGS_KEY)
    log('stored %s', Object.keys(patch).join(', '))
    return parsed
  }
}
