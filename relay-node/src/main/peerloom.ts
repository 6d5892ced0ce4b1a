/** Entry point of `peerloom`. */
import '../platform.ts'
import { runPeerloom } from '../cli/peerloom.ts'

const status = await runPeerloom(process.argv.slice(2), process.env, {
  stdout: line => { process.stdout.write(line + '\n') },
  stderr: line => { process.stderr.write(line + '\n') }
})
process.exit(status)
