/** `peerloom <command>`: the publisher's tool. */
import { closestOption } from './args.ts'
import type { Stdio } from './relay.ts'
import { PACKAGE_VERSION } from '../version.ts'

const USAGE = `Usage: peerloom <command> [options]

Commands:
  publish FILE        encrypt, store and announce a file in an origin; prints its link
  report CONTENT      bytes peers delivered (claimed on chain) against bytes the origin served
  room create         register a token-gated call room for the origin's key service

Run "peerloom publish --help", "peerloom report --help" or "peerloom room --help" for the options,
"peerloom --version" for the version.
`

const COMMANDS = ['publish', 'report', 'room', 'help']

export async function runPeerloom (argv: string[], env: NodeJS.ProcessEnv, io: Stdio): Promise<number> {
  const [command, ...rest] = argv
  // each command loads its own stack (ethers, the UnixFS importer) only when it runs, so --help is instant
  if (command === 'publish') return await (await import('./publish.ts')).runPublish(rest, env, io)
  if (command === 'report') return await (await import('./report.ts')).runReport(rest, env, io)
  if (command === 'room') return await (await import('./room.ts')).runRoom(rest, env, io)
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout(USAGE)
    return 0
  }
  if (command === '--version') {
    io.stdout(PACKAGE_VERSION)
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
