/**
 * `POST /keys/v1` on an origin: `{ "message", "signature" }` (a signed key request) in,
 * a KeyGrant out, or `{ "error": { code, name, message } }` with 403 (5011, the policy is not
 * met, with the reason), 422 (bad signature, expired or reused request), 404 (unknown content)
 * or 503 (5012, the chain cannot be read).
 */
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import { ConfigError, ErrorCode, InvalidParamsError, MAX_KEY_REQUEST_BYTES, isPeerloomError } from '@peerloom/shared'
import type { Wallet } from 'ethers'
import { HttpError, sendJson } from '../http/respond.ts'
import { signerFromHex } from '../publish.ts'
import { KeyService } from './key-service.ts'
import { KeyStore } from './key-store.ts'
import { Registry, loadDeployment } from './registry.ts'
import { RoomHolders } from './rooms.ts'

/** Largest request body read. @default 8 KiB */
export const MAX_KEY_BODY_BYTES = 8 * 1024

const bodySchema = z.strictObject({
  message: z.string().max(MAX_KEY_REQUEST_BYTES),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-hex signature')
})

/** The key service's configuration, as the relay's flags give it. */
export interface KeyServiceConfig {
  data: string
  rpc?: string
  deployment?: string
  publisherKeyFile?: string
  /** `host:port` requests must name; the HTTP server's own when absent. */
  keyDomain?: string
  /** How often gated rooms' holders are re-checked. */
  holderCheckMs: number
}

/** What the origin does for the key service beyond HTTP. */
export interface KeyRouteHooks {
  log?: (line: string) => void
  /** Publishes a gated room's rekey notice on its topic. */
  onRekey?: (roomId: string, keyVersion: number) => Promise<void>
}

export class KeyRoute {
  private readonly service?: KeyService
  private readonly missing?: string
  /** The gated rooms' holders, re-checked while the route runs. */
  readonly rooms?: RoomHolders

  constructor (service: KeyService | undefined, missing?: string, rooms?: RoomHolders) {
    this.service = service
    this.missing = missing
    if (rooms !== undefined) this.rooms = rooms
  }

  /** Stops re-checking holders. */
  async stop (): Promise<void> {
    await this.rooms?.stop()
  }

  async handle (req: IncomingMessage, res: ServerResponse): Promise<number> {
    if (this.service === undefined) throw new HttpError(501, ErrorCode.UNSUPPORTED_METHOD, `this origin runs no key service: ${this.missing ?? 'it is not configured'}`)
    const text = await readBody(req)
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new InvalidParamsError('the key request must be JSON: { "message", "signature" }')
    }
    const parsed = bodySchema.safeParse(json)
    if (!parsed.success) throw new InvalidParamsError(`the key request ${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'is invalid'}`)
    try {
      sendJson(res, 200, await this.service.grant(parsed.data))
      return 200
    } catch (err) {
      // the chain being unreachable is the operator's problem to see, and the viewer's to retry
      if (isPeerloomError(err) && err.code === ErrorCode.CHAIN) throw new HttpError(503, ErrorCode.CHAIN, err.message)
      throw err
    }
  }
}

async function readBody (req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = []
  let length = 0
  for await (const part of req as AsyncIterable<Buffer>) {
    length += part.length
    if (length > MAX_KEY_BODY_BYTES) throw new HttpError(413, ErrorCode.INVALID_PARAMS, `the key request is larger than ${MAX_KEY_BODY_BYTES} bytes`)
    parts.push(part)
  }
  return Buffer.concat(parts).toString('utf8')
}

/** The publisher key from --publisher-key-file, PEERLOOM_PUBLISHER_KEY_FILE or PEERLOOM_PUBLISHER_KEY. */
async function publisherKey (config: KeyServiceConfig, env: NodeJS.ProcessEnv): Promise<Wallet | undefined> {
  if (config.publisherKeyFile !== undefined) {
    let text: string
    try {
      text = await readFile(config.publisherKeyFile, 'utf8')
    } catch (err) {
      throw new ConfigError(`--publisher-key-file: cannot read ${config.publisherKeyFile}: ${(err as Error).message}`)
    }
    return signerFromHex(text, `--publisher-key-file ${config.publisherKeyFile}`)
  }
  if (env.PEERLOOM_PUBLISHER_KEY !== undefined) return signerFromHex(env.PEERLOOM_PUBLISHER_KEY, 'PEERLOOM_PUBLISHER_KEY')
  return undefined
}

/**
 * Builds the key route of an origin. Without --rpc, --deployment and a publisher key the route
 * exists but answers 501 saying what is missing; with some but not all of them it is a ConfigError.
 */
export async function createKeyRoute (config: KeyServiceConfig, env: NodeJS.ProcessEnv, httpHost: () => string, hooks: KeyRouteHooks = {}): Promise<KeyRoute> {
  const { log } = hooks
  const publisher = await publisherKey(config, env)
  const given = [config.rpc, config.deployment, publisher].filter(value => value !== undefined).length
  if (given === 0) return new KeyRoute(undefined, 'start the origin with --rpc, --deployment and --publisher-key-file to grant keys to gated content')
  if (config.rpc === undefined || config.deployment === undefined || publisher === undefined) {
    throw new ConfigError('the key service needs all of --rpc, --deployment and --publisher-key-file (or PEERLOOM_PUBLISHER_KEY)')
  }
  const registry = new Registry(config.rpc, await loadDeployment(config.deployment))
  const keys = new KeyStore(config.data)
  const rooms = new RoomHolders({
    keys,
    registry,
    publisher,
    checkMs: config.holderCheckMs,
    ...(hooks.onRekey === undefined ? {} : { onRekey: hooks.onRekey }),
    ...(log === undefined ? {} : { log })
  })
  await rooms.open()
  const service = new KeyService({
    keys,
    registry,
    publisher,
    rooms,
    domain: () => config.keyDomain ?? httpHost(),
    ...(log === undefined ? {} : { log })
  })
  rooms.start()
  log?.(`key service for publisher ${publisher.address} on chain ${registry.deployment.chainId} (${config.rpc}), registry ${registry.deployment.registry}; gated rooms' holders re-checked every ${config.holderCheckMs} ms`)
  return new KeyRoute(service, undefined, rooms)
}
