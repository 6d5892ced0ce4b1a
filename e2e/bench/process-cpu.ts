/** CPU time of processes, read from /proc: what the benchmarks charge a path or a variant. */
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = Number(execSync('getconf CLK_TCK').toString().trim())

/**
 * CPU time (ms, user + system) used so far by every live process whose command line contains
 * one of `markers`, e.g. a path's browsers with all their processes, per process kind:
 * `browser`, `renderer`, `utility` (the network service), `gpu-process`. Read before and after
 * a run, the difference is the CPU that run cost.
 */
export function cpuMsByProcess (markers: string[]): Record<string, number> {
  const totals: Record<string, number> = {}
  for (const line of execSync('ps -eo pid=,args=', { maxBuffer: 16 * 1024 * 1024 }).toString().split('\n')) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line)
    if (match === null || !markers.some(m => (match[2] as string).includes(m))) continue
    const kind = /--type=(\S+)/.exec(match[2] as string)?.[1] ?? 'browser'
    try {
      // fields after the command name: state is 3rd, utime 14th and stime 15th of the whole line
      const fields = readFileSync(`/proc/${match[1] as string}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      totals[kind] = (totals[kind] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND
    } catch {
      // the process exited between ps and the read
    }
  }
  return totals
}
