/**
 * CPU time of one Chromium profile's processes by kind, read from /proc, for bench:call: the
 * extension renderer (offscreen document: the node, a forwarder) is told apart from the page
 * renderers, which is what "forwarder CPU" and "CPU per participant" need.
 */
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = Number(execSync('getconf CLK_TCK').toString().trim())

/** `browser`, `renderer` (pages), `extension` (the extension's renderer), `utility`, `gpu-process`, … */
export type CpuByKind = Record<string, number>

/** CPU ms (user + system) used so far by each kind of process of the profile at `userDataDir`. */
export function profileCpuMs (userDataDir: string): CpuByKind {
  const totals: CpuByKind = {}
  for (const line of execSync('ps -eo pid=,args=', { maxBuffer: 16 * 1024 * 1024 }).toString().split('\n')) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line)
    const args = match?.[2]
    if (match === null || args === undefined || !args.includes(`--user-data-dir=${userDataDir}`)) continue
    const type = /--type=(\S+)/.exec(args)?.[1] ?? 'browser'
    const kind = type === 'renderer' && args.includes('--extension-process') ? 'extension' : type
    try {
      // after the command name: utime and stime are the 12th and 13th fields
      const fields = readFileSync(`/proc/${match[1] as string}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      totals[kind] = (totals[kind] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND
    } catch {
      // the process exited between ps and the read
    }
  }
  return totals
}

/** What `after` used beyond `before`, by kind (a process that exited in between is not counted). */
export function cpuSince (before: CpuByKind, after: CpuByKind): CpuByKind {
  const out: CpuByKind = {}
  for (const [kind, ms] of Object.entries(after)) out[kind] = Math.max(0, ms - (before[kind] ?? 0))
  return out
}

export const totalMs = (cpu: CpuByKind): number => Object.values(cpu).reduce((a, b) => a + b, 0)
