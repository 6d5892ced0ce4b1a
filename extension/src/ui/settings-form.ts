/**
 * The Options form: settings as the fields show them (MiB, MiB/s, one entry per line) and back,
 * checked against the node's own settings schema so each problem is named next to its field,
 * in that field's unit, before anything is sent.
 */
import { nodeSettingsSchema } from '@peerloom/shared'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'

const MiB = 1024 * 1024

/** What the form's fields hold: text, as typed. */
export interface Draft {
  donate: boolean
  uploadMiB: string
  maxPeers: string
  cacheMiB: string
  relays: string
  routers: string
  gateways: string
  iceServers: string
  /** Rewards and gated content (see src/rewards/README.md). */
  rpcUrl: string
  chainId: string
  rewardPool: string
  contentRegistry: string
  payoutAddress: string
  keyServices: string
  epochSeconds: string
  /** Calls: forwarding other people's call media (docs/CALLS.md), opt-in like sharing. */
  mediaForward: boolean
  mediaMaxStreams: string
  mediaUploadMiB: string
}

export type DraftField = keyof Draft

/** A problem per field, as the field shows it. */
export type DraftErrors = Partial<Record<DraftField, string>>

interface FieldSpec {
  field: DraftField
  /** The field's unit and how many of the setting's units make one of it. */
  unit?: { name: string, scale: number }
}

/** Which field edits which setting: a top-level key, or `media.<key>` for the calls settings. */
const FIELDS: Partial<Record<keyof NodeSettings | `media.${keyof NodeSettings['media']}`, FieldSpec>> = {
  uploadRateBytesPerSec: { field: 'uploadMiB', unit: { name: 'MiB/s', scale: MiB } },
  maxServeConnections: { field: 'maxPeers' },
  cacheCapBytes: { field: 'cacheMiB', unit: { name: 'MiB', scale: MiB } },
  relays: { field: 'relays' },
  routers: { field: 'routers' },
  gateways: { field: 'gateways' },
  iceServers: { field: 'iceServers' },
  rpcUrl: { field: 'rpcUrl' },
  chainId: { field: 'chainId' },
  rewardPool: { field: 'rewardPool' },
  contentRegistry: { field: 'contentRegistry' },
  payoutAddress: { field: 'payoutAddress' },
  keyServices: { field: 'keyServices' },
  epochSeconds: { field: 'epochSeconds', unit: { name: 'seconds', scale: 1 } },
  'media.forward': { field: 'mediaForward' },
  'media.maxStreams': { field: 'mediaMaxStreams' },
  'media.uploadRateBytesPerSec': { field: 'mediaUploadMiB', unit: { name: 'MiB/s', scale: MiB } }
}

/** Fields that must hold a number, with the unit a person types it in. */
const NUMBER_FIELDS: Partial<Record<DraftField, string>> = {
  uploadMiB: 'MiB/s',
  maxPeers: 'peers',
  cacheMiB: 'MiB',
  epochSeconds: 'seconds',
  mediaMaxStreams: 'streams',
  mediaUploadMiB: 'MiB/s'
}

/** Up to 3 decimals, no trailing zeros: 0.016, 2, 1.5. */
const decimal = (value: number): string => String(+value.toFixed(3))

export function toDraft (s: NodeSettings): Draft {
  return {
    donate: s.donate,
    uploadMiB: decimal(s.uploadRateBytesPerSec / MiB),
    maxPeers: String(s.maxServeConnections),
    cacheMiB: String(Math.round(s.cacheCapBytes / MiB)),
    relays: s.relays.join('\n'),
    routers: s.routers.join('\n'),
    gateways: s.gateways.join('\n'),
    iceServers: JSON.stringify(s.iceServers, null, 2),
    rpcUrl: s.rpcUrl ?? '',
    chainId: s.chainId === undefined ? '' : String(s.chainId),
    rewardPool: s.rewardPool ?? '',
    contentRegistry: s.contentRegistry ?? '',
    payoutAddress: s.payoutAddress ?? '',
    keyServices: s.keyServices.join('\n'),
    epochSeconds: String(s.epochSeconds),
    mediaForward: s.media.forward,
    mediaMaxStreams: String(s.media.maxStreams),
    mediaUploadMiB: decimal(s.media.uploadRateBytesPerSec / MiB)
  }
}

/** A text field that is optional in the settings: left out when blank. */
const optional = <K extends string>(key: K, value: string): Partial<Record<K, string>> => value.trim() === '' ? {} : { [key]: value.trim() } as Record<K, string>

const lines = (text: string): string[] => text.split('\n').map(l => l.trim()).filter(l => l !== '')

/** The settings the draft stands for, or the problems that keep it from standing for any. */
export function fromDraft (d: Draft): { settings: NodeSettingsInput, errors?: undefined } | { settings?: undefined, errors: DraftErrors } {
  const errors: DraftErrors = {}
  for (const [field, unit] of Object.entries(NUMBER_FIELDS) as Array<[DraftField, string]>) {
    const text = String(d[field]).trim()
    if (text === '' || !Number.isFinite(Number(text))) errors[field] = `enter a number (${unit})`
  }
  if (d.chainId.trim() !== '' && !Number.isFinite(Number(d.chainId))) errors.chainId = 'enter a number, or leave it empty'
  let iceServers: unknown = []
  try {
    iceServers = JSON.parse(d.iceServers.trim() === '' ? '[]' : d.iceServers)
  } catch {
    errors.iceServers = 'must be JSON, e.g. [{"urls": "stun:stun.example.org:3478"}]'
  }
  const settings: NodeSettingsInput = {
    donate: d.donate,
    uploadRateBytesPerSec: Math.round(Number(d.uploadMiB) * MiB),
    maxServeConnections: Number(d.maxPeers),
    cacheCapBytes: Math.round(Number(d.cacheMiB) * MiB),
    relays: lines(d.relays),
    routers: lines(d.routers),
    gateways: lines(d.gateways),
    iceServers: iceServers as NodeSettingsInput['iceServers'],
    ...optional('rpcUrl', d.rpcUrl),
    ...(d.chainId.trim() === '' ? {} : { chainId: Number(d.chainId) }),
    ...optional('rewardPool', d.rewardPool),
    ...optional('contentRegistry', d.contentRegistry),
    ...optional('payoutAddress', d.payoutAddress),
    keyServices: lines(d.keyServices),
    epochSeconds: Number(d.epochSeconds),
    media: {
      forward: d.mediaForward,
      maxStreams: Number(d.mediaMaxStreams),
      uploadRateBytesPerSec: Math.round(Number(d.mediaUploadMiB) * MiB)
    }
  }
  const parsed = nodeSettingsSchema.safeParse(settings)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const at = fieldProblem(issue.path, issue.message, issue as { code: string, minimum?: unknown, maximum?: unknown })
      if (at !== undefined) errors[at.field] ??= at.message
    }
  }
  return Object.keys(errors).length === 0 ? { settings } : { errors }
}

/**
 * Names the field a settings problem belongs to and says it in the field's terms: a bound in
 * the field's unit, a list entry by its line.
 */
export function fieldProblem (path: readonly PropertyKey[], message: string, bound: { code?: string, minimum?: unknown, maximum?: unknown } = {}): { field: DraftField, message: string } | undefined {
  const nested = path[0] === 'media' && typeof path[1] === 'string'
  const spec = FIELDS[(nested ? `media.${path[1] as string}` : path[0]) as keyof typeof FIELDS]
  if (spec === undefined) return undefined
  const unit = spec.unit
  if (unit !== undefined && bound.code === 'too_small' && typeof bound.minimum === 'number') {
    return { field: spec.field, message: `must be at least ${decimal(bound.minimum / unit.scale)} ${unit.name}` }
  }
  if (unit !== undefined && bound.code === 'too_big' && typeof bound.maximum === 'number' && bound.maximum < Number.MAX_SAFE_INTEGER) {
    return { field: spec.field, message: `must be at most ${decimal(bound.maximum / unit.scale)} ${unit.name}` }
  }
  if (typeof path[1] === 'number' && spec.field !== 'iceServers') return { field: spec.field, message: `line ${path[1] + 1}: ${message}` }
  return { field: spec.field, message }
}

/**
 * Places an error the node sent back (a ConfigError naming `settings.<key>` in its data) on its
 * field; `undefined` when it names none.
 */
export function fieldOfNodeError (err: { message: string, data?: Record<string, unknown> }): { field: DraftField, message: string } | undefined {
  const path = typeof err.data?.path === 'string' ? err.data.path.split('.').slice(1) : []
  if (path.length === 0) return undefined
  const problem = err.message.replace(/^[\w.]+: /, '')
  return fieldProblem(path.map(p => /^\d+$/.test(p) ? Number(p) : p), problem)
}
