/**
 * The relay's configuration: the shared RelayConfig plus the settings of calls (gossipsub
 * rooms) and of gated rooms' holder checks, which only relay-node reads.
 */
import { z } from 'zod'
import { relayConfigSchema } from '@peerloom/shared/config/relay'
import type { RelayConfig } from '@peerloom/shared/config/relay'
import { DEFAULT_HOLDER_CHECK_MS, DEFAULT_MAX_ROOMS } from './constants.ts'

export const relayNodeConfigSchema = relayConfigSchema.extend({
  /** Key service: how often the holders granted a gated room's key are re-checked against its policy. */
  holderCheckMs: z.number().int('must be a whole number').min(100, 'must be at least 100').max(24 * 60 * 60 * 1000, 'must be at most a day').default(DEFAULT_HOLDER_CHECK_MS),
  /** Room topics carried at once. */
  maxRooms: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000').default(DEFAULT_MAX_ROOMS)
})

/** A relay's configuration; the calls fields fall back to their defaults when absent. */
export type RelayNodeConfig = RelayConfig & Partial<Pick<z.output<typeof relayNodeConfigSchema>, 'holderCheckMs' | 'maxRooms'>>
