/** Entry point of `peerloom-relay`. */
import '../platform.ts'
import { runRelay } from '../cli/relay.ts'

const status = await runRelay(process.argv.slice(2), process.env, {
  stdout: line => { process.stdout.write(line + '\n') },
  stderr: line => { process.stderr.write(line + '\n') }
})
process.exit(status)
