/** `peerloom <command>`: the publisher's tool. */
import { closestOption } from './args.ts'
import { runPublish } from './publish.ts'
import type { Stdio } from './relay.ts'
import { runReport } from './report.ts'

const USAGE = `Usage: peerloom <command> [options]

Commands:
  publish FILE        encrypt, store and announce a file in an origin; prints its link
  report CONTENT      bytes peers delivered (claimed on chain) against bytes the origin served

Run "peerloom publish --help" or "peerloom report --help" for the options.
`

const COMMANDS = ['publish', 'report', 'help']

export async function runPeerloom (argv: string[], env: NodeJS.ProcessEnv, io: Stdio): Promise<number> {
  const [command, ...rest] = argv
  if (command === 'publish') return await runPublish(rest, env, io)
  if (command === 'report') return await runReport(rest, env, io)
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout(USAGE)
    return 0
  }
  if (command === undefined) {
    io.stderr(`peerloom: name a command\n${USAGE}`)
    return 2
  }
  const suggestion = closestOption(command, COMMANDS)
  io.stderr(`peerloom: unknown command "${command}"${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}\n${USAGE}`)
  return 2
}
