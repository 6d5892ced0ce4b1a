/** Starts e2e/src/bad-peer-main.ts as a process and counts the block requests it receives. */
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { BadMode } from '../../extension/test/bad-block-handler.ts'

export type { BadMode }

const ROOT = resolve(import.meta.dirname, '..', '..')
const MAIN = join(ROOT, 'e2e', 'src', 'bad-peer-main.ts')

/**
 * How long the bad peer may take to start, reserve and announce itself (its own limit for the
 * last two is 90 s; the rest is for starting Node and tsx on a busy machine).
 * @default 120_000
 */
const READY_TIMEOUT_MS = 120_000

export interface BadPeer {
  peerId: string
  multiaddrs: string[]
  mode: BadMode
  /** CIDs asked for so far, in order. */
  readonly requests: string[]
  stop: () => Promise<void>
}

/** A peer that reserves on `relay`, provides `cids` and answers block requests in `mode`. */
export async function startBadPeer (options: { relay: string, mode: BadMode, provide: string[] }): Promise<BadPeer> {
  const args = ['--import', 'tsx', MAIN, '--relay', options.relay, '--mode', options.mode, ...options.provide.flatMap(cid => ['--provide', cid])]
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  const requests: string[] = []
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(timer)
  }
  const ready = await new Promise<{ peerId: string, multiaddrs: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`bad peer not ready after ${READY_TIMEOUT_MS} ms: ${stderr}`)) }, READY_TIMEOUT_MS)
    createInterface({ input: child.stdout }).on('line', line => {
      if (!line.startsWith('{')) return
      const parsed = JSON.parse(line) as { request?: string, peerId?: string, multiaddrs?: string[] }
      if (parsed.request !== undefined) requests.push(parsed.request)
      else if (parsed.peerId !== undefined) {
        clearTimeout(timer)
        resolve({ peerId: parsed.peerId, multiaddrs: parsed.multiaddrs ?? [] })
      }
    })
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`bad peer exited with ${code}: ${stderr}`))
    })
  }).catch(async err => { await stop(); throw err })
  return { ...ready, mode: options.mode, requests, stop }
}
