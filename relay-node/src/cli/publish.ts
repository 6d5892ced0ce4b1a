/**
 * `peerloom publish FILE`: options → publishFile, with a progress line on a terminal's stderr and the JSON
 * result on stdout. Exit 0 on success, 1 when publishing fails, 2 on bad options.
 */
import { basename } from 'node:path'
import { readFile } from 'node:fs/promises'
import mime from 'mime'
import { ConfigError, DEFAULT_CHUNK_SIZE, InvalidParamsError, assertChunkSize, fromHex, isPeerloomError } from '@peerloom/shared'
import type { Wallet } from 'ethers'
import { publishFile, signerFromHex, targetForDataDir } from '../publish.ts'
import type { PublishTarget } from '../publish.ts'
import { chainOptionsFrom, registerPublished, resolveRotation, CHAIN_USAGE } from '../keys/publish-chain.ts'
import type { ChainOptions } from '../keys/publish-chain.ts'
import { describeError, parseOptions } from './args.ts'
import { PublishProgress } from './progress.ts'
import type { Stdio } from './relay.ts'

export const PUBLISH_USAGE = `Usage: peerloom publish FILE [options]

Encrypts FILE chunk by chunk (AES-256-GCM), stores it in an origin and prints
{"link","manifest","root","contentId"} as JSON on stdout. The link carries the content key.

Where to store (one of):
  --data <dir>          an origin's data directory (PEERLOOM_DATA). If an origin runs
                        there, the file is uploaded to it and announced at once; if not,
                        it is written into the directory and announced when the origin starts.
                        The directory must hold origin data already, unless you add
  --init                to create a new origin data directory (start it with
                        peerloom-relay --origin --data <dir> to serve what you publish).
  --origin <url>        a running origin's HTTP address (PEERLOOM_ORIGIN_URL), with
  --token-file <file>   its upload token (PEERLOOM_UPLOAD_TOKEN holds the token itself);
                        the token is <data>/upload-token on the origin's machine.

Publisher key (one of; a 32-byte secp256k1 private key as hex):
  --key-file <file>     PEERLOOM_PUBLISHER_KEY_FILE
                        PEERLOOM_PUBLISHER_KEY holds the key itself

Content:
  --name <name>         name in the manifest (default: the file's name)
  --mime <type>         MIME type (default: guessed from the extension, else application/octet-stream)
  --chunk-size <bytes>  plaintext chunk size, 1024 to 1048576, e.g. 262144 or 256KiB (default ${DEFAULT_CHUNK_SIZE})
  --content-id <0x…>    the 32-byte content id (default: random)
  --quiet               no progress line (it is drawn only when stderr is a terminal)
${CHAIN_USAGE}`

const PUBLISH_OPTIONS = {
  data: { type: 'string' },
  init: { type: 'boolean' },
  origin: { type: 'string' },
  'token-file': { type: 'string' },
  'key-file': { type: 'string' },
  name: { type: 'string' },
  mime: { type: 'string' },
  'chunk-size': { type: 'string' },
  'content-id': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
  gated: { type: 'boolean' },
  rotate: { type: 'boolean' },
  policy: { type: 'string' },
  rate: { type: 'string' },
  budget: { type: 'string' },
  'budget-days': { type: 'string' },
  rpc: { type: 'string' },
  deployment: { type: 'string' }
} as const

/** `262144`, `256KiB`, `1MiB` → bytes. */
export function parseSize (text: string): number {
  const match = /^(\d+)\s*(KiB|MiB|k|m)?$/i.exec(text.trim())
  if (match === null) throw new InvalidParamsError(`--chunk-size: "${text}" is not a size; write bytes (262144) or KiB/MiB (256KiB)`)
  const unit = (match[2] ?? '').toLowerCase()
  const value = Number(match[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1)
  try {
    assertChunkSize(value)
  } catch (err) {
    throw new InvalidParamsError(`--chunk-size: ${(err as Error).message}`)
  }
  return value
}

async function readSigner (values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<Wallet> {
  const file = (values['key-file'] as string | undefined) ?? env.PEERLOOM_PUBLISHER_KEY_FILE
  if (file !== undefined) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`--key-file: cannot read ${file}: ${(err as Error).message}`)
    }
    return signerFromHex(text, `--key-file ${file}`)
  }
  if (env.PEERLOOM_PUBLISHER_KEY !== undefined) return signerFromHex(env.PEERLOOM_PUBLISHER_KEY, 'PEERLOOM_PUBLISHER_KEY')
  throw new ConfigError('a publisher key is needed to sign the manifest: pass --key-file FILE or set PEERLOOM_PUBLISHER_KEY (32 bytes as hex)')
}

async function readTarget (values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<PublishTarget> {
  const url = (values.origin as string | undefined) ?? env.PEERLOOM_ORIGIN_URL
  const dir = (values.data as string | undefined) ?? env.PEERLOOM_DATA
  if (url !== undefined && values.data !== undefined) throw new ConfigError('--origin and --data name two destinations; pass one')
  if (url !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(url)) throw new ConfigError(`--origin: must be an http:// or https:// URL (got ${JSON.stringify(url)})`)
    const tokenFile = (values['token-file'] as string | undefined) ?? env.PEERLOOM_UPLOAD_TOKEN_FILE
    let token = env.PEERLOOM_UPLOAD_TOKEN?.trim()
    if (tokenFile !== undefined) {
      try {
        token = (await readFile(tokenFile, 'utf8')).trim()
      } catch (err) {
        throw new ConfigError(`--token-file: cannot read ${tokenFile}: ${(err as Error).message}`)
      }
    }
    if (token === undefined) throw new ConfigError('--origin needs the upload token: pass --token-file <data>/upload-token or set PEERLOOM_UPLOAD_TOKEN')
    return { kind: 'http', url, token }
  }
  if (dir !== undefined) return await targetForDataDir(dir, { init: values.init === true })
  throw new ConfigError('say where to publish: --data <origin data dir> or --origin <url> --token-file <file>')
}

/** Runs `peerloom publish`; resolves with the exit status. */
export async function runPublish (argv: string[], env: NodeJS.ProcessEnv, io: Stdio & { stderrIsTTY?: boolean }): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  let positionals: string[]
  try {
    ({ values, positionals } = parseOptions(argv, PUBLISH_OPTIONS, 'peerloom publish', true) as { values: Record<string, string | boolean | undefined>, positionals: string[] })
  } catch (err) {
    io.stderr(`peerloom publish: ${describeError(err)}`)
    return 2
  }
  if (values.help === true) {
    io.stdout(PUBLISH_USAGE)
    return 0
  }
  let options: Parameters<typeof publishFile>[0]
  let chain: ChainOptions | undefined
  try {
    if (positionals.length !== 1) throw new ConfigError(`name exactly one FILE to publish (got ${positionals.length}); see peerloom publish --help`)
    const file = positionals[0] as string
    const name = (values.name as string | undefined) ?? basename(file)
    const type = (values.mime as string | undefined) ?? mime.getType(name) ?? mime.getType(file) ?? 'application/octet-stream'
    if (!/^[\w.+-]+\/[\w.+-]+$/.test(type)) throw new ConfigError(`--mime: "${type}" is not a MIME type like video/mp4`)
    const chunkSize = values['chunk-size'] === undefined ? DEFAULT_CHUNK_SIZE : parseSize(values['chunk-size'] as string)
    let contentId: Uint8Array | undefined
    if (values['content-id'] !== undefined) {
      try {
        contentId = fromHex(values['content-id'] as string, 32, 'content id')
      } catch (err) {
        throw new ConfigError(`--content-id: ${(err as Error).message} (32 bytes as 0x-hex)`)
      }
    }
    const target = await readTarget(values, env)
    chain = await chainOptionsFrom(values, env, target, (values.data as string | undefined) ?? env.PEERLOOM_DATA)
    options = { file, name, mime: type, chunkSize, signer: await readSigner(values, env), target, ...(contentId === undefined ? {} : { contentId }) }
    if (chain !== undefined) options = { ...options, ...await resolveRotation(chain, options.signer, contentId) }
  } catch (err) {
    io.stderr(`peerloom publish: ${describeError(err)}`)
    return 2
  }

  // progress redraws one line: on a pipe or in a log it would only be noise
  const bar = new PublishProgress(values.quiet !== true && (io.stderrIsTTY ?? process.stderr.isTTY === true))
  try {
    const result = await publishFile({
      ...options,
      onStart: total => { bar.start(total) },
      onProgress: ({ bytes, chunks }) => { bar.update(bytes, chunks) }
    })
    bar.stop()
    io.stderr(`published ${options.name} (${options.mime}) to ${options.target.kind === 'http' ? options.target.url : `${options.target.dir} (announced when the origin starts)`}`)
    const printed = { link: result.link, manifest: result.manifest, root: result.root, contentId: result.contentId }
    if (chain === undefined) {
      io.stdout(JSON.stringify(printed))
      return 0
    }
    const registration = await registerPublished(chain, options.signer, result)
    io.stderr(`${registration.rotated ? 'rotated to key version' : 'registered with key version'} ${registration.keyVersion} on chain ${registration.chainId}: ${registration.tx}`)
    io.stdout(JSON.stringify({ ...printed, registration }))
    return 0
  } catch (err) {
    bar.stop()
    io.stderr(`peerloom publish: ${describeError(err)}`)
    return isPeerloomError(err) && (err.name === 'InvalidParamsError' || err.name === 'ConfigError') ? 2 : 1
  }
}

