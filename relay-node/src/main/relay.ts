/** Entry point of `peerloom-relay`. */
import '../platform.ts'

// imported only now, so the polyfills are in place before any libp2p module evaluates, bundled or not
const { runRelay } = await import('../cli/relay.ts')
const status = await runRelay(process.argv.slice(2), process.env, {
  stdout: line => { process.stdout.write(line + '\n') },
  stderr: line => { process.stderr.write(line + '\n') }
})
process.exit(status)
