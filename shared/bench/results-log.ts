/**
 * The benchmarks' run history. Every bench appends one entry per run to a JSON file beside it
 * (`bench/results/<bench>.json`, shape `{ "runs": [entry, …] }`, oldest first), so the README
 * keeps one table of the latest run and the history stays machine-readable.
 * Used by the benches of every package (shared, contracts, relay-node, e2e).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** One run: when it started, the checked-out commit, then the bench's own figures. */
export interface RunEntry {
  /** ISO 8601, the run's start. */
  date: string
  /** `git rev-parse --short HEAD` when the run started; absent outside a git checkout. */
  commit?: string
  /** Whether tracked files differed from that commit, so the code measured is not exactly it. */
  dirty?: boolean
  [figure: string]: unknown
}

/** The checked-out commit and whether tracked files differ from it; empty outside git. */
function checkout (dir: string): { commit?: string, dirty?: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== ''
    return { commit, dirty }
  } catch {
    return {} // not a git checkout (an unpacked tarball): the entry just has no commit
  }
}

/** Appends a run started at `startedAt` to `file` (created with its folder if missing) and returns the entry. */
export async function appendRun<T extends object> (file: string, startedAt: Date, figures: T): Promise<RunEntry & T> {
  await mkdir(dirname(file), { recursive: true })
  const entry: RunEntry & T = { date: startedAt.toISOString(), ...checkout(dirname(file)), ...figures }
  const history = existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) as { runs: RunEntry[] } : { runs: [] }
  if (!Array.isArray(history.runs)) throw new Error(`${file} has no "runs" array; it is not a bench results file`)
  history.runs.push(entry)
  await writeFile(file, JSON.stringify(history, null, 2) + '\n')
  return entry
}

/** "commit abc1234", noting uncommitted changes: how the printed tables name the code measured. */
export function describeCheckout (entry: { commit?: string, dirty?: boolean }): string {
  return `commit ${entry.commit ?? 'unknown'}${entry.dirty === true ? ' (with uncommitted changes)' : ''}`
}
