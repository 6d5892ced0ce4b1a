/**
 * `peerloom report <link | manifest CID | content id>`: how much of a content's traffic peers
 * carried, against what the origin served. Asks the running origin (`--origin URL`, or the one
 * running on `--data DIR`); with `--data` and no origin running, reads the data directory itself
 * and, with `--rpc` and `--deployment`, the chain. Prints a small table, or the JSON with --json.
 */
import { ConfigError, DisconnectedError, NotFoundError, errorFromWire, parseLink } from '@peerloom/shared'
import type { Stdio } from './relay.ts'
import { describeError, parseOptions } from './args.ts'
import { formatBytes } from '@peerloom/shared/progress'
import type { OffloadReport as Report } from '../origin/report.ts'

export const REPORT_USAGE = `Usage: peerloom report <link | manifest CID | content id> [options]

Shows how many bytes of one published content peers delivered (claimed on chain) against
how many the origin served itself, and the offload ratio: peers / (peers + origin).

Which origin (one of):
  --origin <url>        a running origin's HTTP address (PEERLOOM_ORIGIN_URL)
  --data <dir>          the origin's data directory (PEERLOOM_DATA); if the origin is not
                        running, its files are read directly, and the chain through:
  --rpc <url>           the chain's JSON-RPC URL (PEERLOOM_RPC), with
  --deployment <file>   the deployment JSON (PEERLOOM_DEPLOYMENT)

Output:
  --json                print the report as JSON:
                        {contentId,name,manifests,originBytes,peerBytes,peerClaims,offloadRatio,since}

Peer bytes are those claimed on chain: bytes a viewer signed a receipt for and a peer then
claimed from the RewardPool. Deliveries not claimed yet show up after the peers' next claim,
so a fresh report can understate the peers' share. Origin bytes count every block the origin
served (gateway and bitswap) since "since".
`

const REPORT_OPTIONS = {
  origin: { type: 'string' },
  data: { type: 'string' },
  rpc: { type: 'string' },
  deployment: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' }
} as const

/** Runs `peerloom report`; resolves with the exit status (0, 1 when the origin or chain fails, 2 on bad input). */
export async function runReport (argv: string[], env: NodeJS.ProcessEnv, io: Stdio): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  let positionals: string[]
  try {
    ({ values, positionals } = parseOptions(argv, REPORT_OPTIONS, 'peerloom report', true) as { values: Record<string, string | boolean | undefined>, positionals: string[] })
    if (values.help === true) {
      io.stdout(REPORT_USAGE)
      return 0
    }
    if (positionals.length !== 1) throw new ConfigError(`name exactly one content: a peerloom:// link, a manifest CID or a content id (got ${positionals.length}); see peerloom report --help`)
  } catch (err) {
    io.stderr(`peerloom report: ${describeError(err)}`)
    return 2
  }
  let report: Report
  try {
    report = await fetchReport(toQuery(positionals[0] as string), values, env)
  } catch (err) {
    io.stderr(`peerloom report: ${describeError(err)}`)
    const name = (err as { name?: string }).name
    return name === 'ConfigError' || name === 'InvalidParamsError' || name === 'BadLinkError' || name === 'NotFoundError' ? 2 : 1
  }
  io.stdout(values.json === true ? JSON.stringify(report) : table(report))
  return 0
}

/** A link becomes its manifest CID (the key after # never leaves this machine); anything else is asked as written. */
function toQuery (id: string): string {
  return id.trim().startsWith('peerloom://') ? parseLink(id.trim()).manifest.toString() : id.trim()
}

async function fetchReport (id: string, values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<Report> {
  const url = (values.origin as string | undefined) ?? env.PEERLOOM_ORIGIN_URL
  const dir = (values.data as string | undefined) ?? env.PEERLOOM_DATA
  if (values.origin !== undefined && values.data !== undefined) throw new ConfigError('--origin and --data name two origins; pass one')
  if (url !== undefined && values.data === undefined) {
    if (!/^https?:\/\/[^/]+/.test(url)) throw new ConfigError(`--origin: must be an http:// or https:// URL (got ${JSON.stringify(url)})`)
    return await askOrigin(url, id)
  }
  if (dir === undefined) throw new ConfigError('say which origin: --origin <url> or --data <origin data dir>; see peerloom report --help')
  const { assertOriginData, runningOrigin } = await import('../publish.ts')
  const running = await runningOrigin(dir)
  if (running !== undefined) return await askOrigin(running.http, id)
  await assertOriginData(dir)
  return await readDataDir(dir, id, values, env)
}

async function askOrigin (url: string, id: string): Promise<Report> {
  let res: Response
  try {
    res = await fetch(new URL(`/api/v1/report/${encodeURIComponent(id)}`, url))
  } catch (err) {
    throw new DisconnectedError(`cannot reach the origin at ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err })
  }
  const json = await res.json().catch(() => undefined) as { error?: { code?: unknown, message?: unknown } } | Report | undefined
  if (res.ok && json !== undefined && !('error' in json)) return json as Report
  const error = (json as { error?: { code?: unknown, message?: unknown } } | undefined)?.error
  if (error !== undefined) throw errorFromWire({ code: error.code, message: `the origin at ${url}: ${String(error.message)}` })
  throw new NotFoundError(`the origin at ${url} answered ${res.status} to its report route; is it a Peerloom origin (peerloom-relay --origin)?`)
}

/** The report from an origin's files, for when it is not running. */
async function readDataDir (dir: string, id: string, values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<Report> {
  const [{ OriginStore }, { ServedLedger }, { offloadReport }, { Registry, loadDeployment }] = await Promise.all([
    import('../origin/store.ts'), import('../origin/served.ts'), import('../origin/report.ts'), import('../keys/registry.ts')
  ])
  const rpc = (values.rpc as string | undefined) ?? env.PEERLOOM_RPC
  const deploymentFile = (values.deployment as string | undefined) ?? env.PEERLOOM_DEPLOYMENT
  if ((rpc === undefined) !== (deploymentFile === undefined)) {
      throw new ConfigError(`${rpc === undefined ? '--deployment' : '--rpc'} needs ${rpc === undefined ? '--rpc' : '--deployment'} too, to read the claims on chain`)
  }
  const registry = rpc === undefined || deploymentFile === undefined ? undefined : new Registry(rpc, await loadDeployment(deploymentFile))
  const store = new OriginStore(dir)
  await store.open()
  try {
    const ledger = new ServedLedger(dir, store)
    await ledger.open()
    await ledger.close()
    return await offloadReport(id, {
      records: await store.list(),
      counts: contentId => ledger.counts(contentId),
      noChain: 'pass --rpc and --deployment to read the bytes peers claimed on chain',
      ...(registry === undefined ? {} : { claimed: async (contentId: string) => await registry.claimedBytes(contentId) })
    })
  } finally {
    await store.close()
  }
}

function percent (part: number, total: number): string {
  return total === 0 ? '—' : `${(100 * part / total).toFixed(1)} %`
}

/** The report as a small table a person reads. */
function table (report: Report): string {
  const peers = report.peerBytes
  const total = (peers ?? 0) + report.originBytes
  const rows: Array<[string, string, string, string]> = [
    ['from peers', peers === null ? 'unknown' : formatBytes(peers), peers === null ? '' : percent(peers, total), peers === null ? '' : `claimed on chain in ${report.peerClaims ?? 0} claim${report.peerClaims === 1 ? '' : 's'}`],
    ['from origin', formatBytes(report.originBytes), peers === null ? '' : percent(report.originBytes, total), `served by the origin since ${report.since.slice(0, 16).replace('T', ' ')} UTC`],
    ...(peers === null ? [] : [['total', formatBytes(total), '', ''] as [string, string, string, string]])
  ]
  const width = (i: number): number => Math.max(...rows.map(row => row[i]?.length ?? 0))
  const lines = rows.map(([a, b, c, d]) => `  ${a.padEnd(width(0))}  ${b.padStart(width(1))}  ${c.padStart(width(2))}  ${d}`.trimEnd())
  const title = `${report.name === '' ? 'content' : JSON.stringify(report.name)} ${report.contentId}`
  const ratio = report.offloadRatio === null ? 'offload ratio: unknown' : `offload ratio: ${(report.offloadRatio * 100).toFixed(1)} % carried by peers`
  const notes = [
    peers === null ? `peer bytes unknown: ${report.peerBytesUnavailable ?? 'the chain was not read'}` : undefined,
    'Peer bytes are those claimed on chain (receipted by viewers, then claimed by peers); deliveries not claimed yet appear after the next claim.'
  ].filter(note => note !== undefined)
  return [title, ...lines, ratio, '', ...notes].join('\n')
}
