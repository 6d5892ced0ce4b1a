/** Entry point of `peerloom`. */
import '../platform.ts'

// imported only now, so the polyfills are in place before any libp2p module evaluates, bundled or not
const { runPeerloom } = await import('../cli/peerloom.ts')
const status = await runPeerloom(process.argv.slice(2), process.env, {
  stdout: line => { process.stdout.write(line + '\n') },
  stderr: line => { process.stderr.write(line + '\n') }
})
process.exit(status)
