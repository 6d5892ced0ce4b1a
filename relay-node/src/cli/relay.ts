/**
 * `peerloom-relay`: parses the configuration, starts the node and its HTTP API, prints the
 * ready line(s) on stdout, logs to stderr, and drains on SIGTERM/SIGINT.
 */
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isPeerloomError } from '@peerloom/shared/errors'
import { DATA_FILES, DEFAULT_SHUTDOWN_GRACE_MS } from '../constants.ts'
import type { HttpApi } from '../http/server.ts'
import type { KeyRoute } from '../keys/routes.ts'
import { tuneHeap } from '../memory.ts'
import { RELAY_USAGE, parseRelayArgs } from './relay-args.ts'
import type { RelayArgs } from './relay-args.ts'
import { PACKAGE_VERSION } from '../version.ts'

export interface Stdio {
  stdout: (line: string) => void
  stderr: (line: string) => void
}

/** Runs the relay until a signal stops it; resolves with the exit status. */
export async function runRelay (argv: string[], env: NodeJS.ProcessEnv, io: Stdio): Promise<number> {
  let args: RelayArgs
  try {
    args = parseRelayArgs(argv, env)
  } catch (err) {
    io.stderr(`peerloom-relay: invalid configuration: ${(err as Error).message}`)
    return 2
  }
  if (args.kind === 'help') {
    io.stdout(RELAY_USAGE)
    return 0
  }
  if (args.kind === 'version') {
    io.stdout(PACKAGE_VERSION)
    return 0
  }
  const { config } = args
  tuneHeap(config.heapGrowingPercent)
  // the libp2p stack loads only once the configuration is known to be good: bad flags fail fast
  const [{ createRelayNode }, { HttpApi }] = await Promise.all([import('../relay.ts'), import('../http/server.ts')])
  const log = (line: string): void => { io.stderr(`peerloom-relay: ${line}`) }
  const relay = createRelayNode({ config, log })
  let http: HttpApi | undefined
  let keys: KeyRoute | undefined
  const runningFile = join(config.data, DATA_FILES.running)

  let resolveStopped!: (status: number) => void
  const stopped = { promise: new Promise<number>(resolve => { resolveStopped = resolve }), resolve: (status: number) => { resolveStopped(status) } }
  let stopping = false
  const stop = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    log(`${why}: draining`)
    const deadline = AbortSignal.timeout(DEFAULT_SHUTDOWN_GRACE_MS)
    const timer = setTimeout(() => {
      log('drain took too long; exiting anyway')
      stopped.resolve(0)
    }, DEFAULT_SHUTDOWN_GRACE_MS)
    timer.unref()
    try {
      await rm(runningFile, { force: true })
      await http?.stop(AbortSignal.timeout(DEFAULT_SHUTDOWN_GRACE_MS / 3))
      await keys?.stop()
      await relay.stop()
      log('stopped')
      stopped.resolve(0)
    } catch (err) {
      log(`error while stopping: ${(err as Error).message}`)
      stopped.resolve(deadline.aborted ? 0 : 1)
    } finally {
      clearTimeout(timer)
    }
  }
  process.once('SIGTERM', () => { void stop('SIGTERM') })
  process.once('SIGINT', () => { void stop('SIGINT') })

  try {
    await relay.start()
    const origin = config.origin ? await (await import('../http/origin-routes.ts')).createOriginRoutes(relay) : undefined
    let url = ''
    if (config.origin) {
      const [{ createKeyRoute }, { roomTopic }, { encodeRekeyNotice }, { DEFAULT_HOLDER_CHECK_MS }] = await Promise.all([
        import('../keys/routes.ts'), import('@peerloom/shared/calls/room'), import('@peerloom/shared/calls/gated-room'), import('../constants.ts')
      ])
      keys = await createKeyRoute({ ...config, holderCheckMs: config.holderCheckMs ?? DEFAULT_HOLDER_CHECK_MS }, env, () => new URL(url).host, {
        log,
        // the notice goes out from this origin's own peer id, which members may check it against
        onRekey: async (roomId, keyVersion) => {
          const recipients = await relay.carrier.publish(roomTopic(roomId), encodeRekeyNotice(keyVersion))
          log(`room ${roomId}: rekey notice for key version ${keyVersion} sent to ${recipients} peer${recipients === 1 ? '' : 's'}`)
        }
      })
    }
    http = new HttpApi({ relay, log, ...(origin === undefined ? {} : { origin }), ...(keys === undefined ? {} : { keys }) })
    url = await http.start(config.http)
    if (config.origin) await writeFile(runningFile, JSON.stringify({ pid: process.pid, http: url }) + '\n')
    const multiaddrs = relay.multiaddrs().map(addr => addr.toString())
    if (config.json) io.stdout(JSON.stringify({ peerId: relay.peerId.toString(), multiaddrs, http: url }))
    else for (const addr of multiaddrs) io.stdout(addr)
    log(`peer ${relay.peerId.toString()} ready; HTTP on ${url}${config.origin ? ' (origin)' : ''}`)
  } catch (err) {
    const detail = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `address in use: ${(err as Error).message}` : (err as Error).message
    io.stderr(`peerloom-relay: cannot start: ${detail}${isPeerloomError(err) ? '' : (err as Error).cause instanceof Error ? ` (${((err as Error).cause as Error).message})` : ''}`)
    stopping = true
    await http?.stop(AbortSignal.timeout(1000)).catch(() => {})
    await keys?.stop().catch(() => {})
    await relay.stop().catch(() => {})
    return isPeerloomError(err) && err.name === 'ConfigError' ? 2 : 1
  }
  return await stopped.promise
}
