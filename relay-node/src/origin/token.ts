/**
 * The upload token of a running origin: 32 random bytes as hex in `<data>/upload-token`
 * (mode 0600), created on the origin's first start. Whoever can read the data directory can
 * publish; nobody else can.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { timingSafeEqual } from 'node:crypto'
import { ConfigError, randomBytes } from '@peerloom/shared'
import { DATA_FILES } from '../constants.ts'

const TOKEN = /^[0-9a-f]{64}$/

/** Reads the token in `dir`, creating one if there is none. */
export async function loadOrCreateUploadToken (dir: string): Promise<string> {
  const existing = await readUploadToken(dir)
  if (existing !== undefined) return existing
  const token = Buffer.from(randomBytes(32)).toString('hex')
  try {
    await writeFile(join(dir, DATA_FILES.uploadToken), token + '\n', { mode: 0o600, flag: 'wx' })
    return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await loadOrCreateUploadToken(dir)
    throw err
  }
}

/** The token in `dir`, or undefined when there is none yet. */
export async function readUploadToken (dir: string): Promise<string | undefined> {
  const file = join(dir, DATA_FILES.uploadToken)
  let text: string
  try {
    text = (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`cannot read the upload token ${file}: ${(err as Error).message}`, { cause: err })
  }
  if (!TOKEN.test(text)) throw new ConfigError(`${file} does not hold an upload token (64 hex digits); delete it and restart the origin to create one`)
  return text
}

/** Constant-time comparison of a presented bearer token with the real one. */
export function tokenMatches (presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false
  const a = Buffer.from(presented)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}
