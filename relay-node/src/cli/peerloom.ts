/** `peerloom <command>`: the publisher's tool. */
import { runPublish } from './publish.ts'
import type { Stdio } from './relay.ts'

const USAGE = `Usage: peerloom <command> [options]

Commands:
  publish FILE   encrypt, store and announce a file in an origin; prints its link

Run "peerloom publish --help" for the options.
`

export async function runPeerloom (argv: string[], env: NodeJS.ProcessEnv, io: Stdio): Promise<number> {
  const [command, ...rest] = argv
  if (command === 'publish') return await runPublish(rest, env, io)
  if (command === undefined || command === '--help' || command === 'help') {
    io.stdout(USAGE)
    return command === undefined ? 2 : 0
  }
  io.stderr(`peerloom: unknown command "${command}"\n${USAGE}`)
  return 2
}
