/** The relay's command-line contract: configuration errors, the ready line, identity, SIGTERM. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RELAY_BIN, removeDir, runCli, startRelay, tempDir } from './helpers.ts'

describe('peerloom-relay configuration', () => {
  it('exits 2 naming the bad flag or variable and its value', async () => {
    const data = await tempDir()
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--http', '127.0.0.1:99999'], {}, /--http: port must be at most 65535 \(got "127\.0\.0\.1:99999"\)/],
      [['--listen', 'nope'], {}, /--listen: is not a multiaddr.*\(got "nope"\)/],
      [['--listen', '/ip4/127.0.0.1/udp/0/quic-v1'], {}, /--listen: \/ip4\/127\.0\.0\.1\/udp\/0\/quic-v1 must be an \/ip4 or \/ip6 TCP address/],
      [['--listen', '/ip4/127.0.0.1/tcp/0/tls/ws'], {}, /TLS is terminated by a proxy/],
      [['--max-reservations', 'lots'], {}, /--max-reservations: must be a whole number \(got "lots"\)/],
      [['--bootstrap', '/ip4/127.0.0.1/tcp/4001'], {}, /--bootstrap: must end in \/p2p\/<peer id>/],
      [['--frobnicate'], {}, /unknown option --frobnicate; see peerloom-relay --help/],
      [['--orgin'], {}, /unknown option --orgin \(did you mean --origin\?\)/],
      [['--max-reservation', '5'], {}, /unknown option --max-reservation \(did you mean --max-reservations\?\)/],
      [['--http'], {}, /--http needs a value/],
      [['--json=yes'], {}, /--json takes no value/],
      [['extra'], {}, /unexpected argument "extra": peerloom-relay takes options only/],
      [[], { PEERLOOM_MAX_RESERVATIONS: '0' }, /PEERLOOM_MAX_RESERVATIONS: must be at least 1 \(got 0\)/],
      [[], { PEERLOOM_ORIGIN: 'maybe' }, /PEERLOOM_ORIGIN: must be true or false \(got "maybe"\)/],
      [[], { PEERLOOM_HTTP: 'localhost' }, /PEERLOOM_HTTP: must be host:port/]
    ]
    try {
      const results = await Promise.all(cases.map(async ([args, env]) => await runCli(RELAY_BIN, ['--data', data, ...args], env)))
      cases.forEach(([args, env, message], i) => {
        const { code, stderr, stdout } = results[i] as Awaited<ReturnType<typeof runCli>>
        assert.equal(code, 2, `${args.join(' ')} ${JSON.stringify(env)} → exit ${String(code)}: ${stderr}`)
        assert.match(stderr, message)
        assert.equal(stdout, '', 'nothing on stdout, where the ready line goes')
      })
    } finally {
      await removeDir(data)
    }
  })

  it('refuses a --data path that is mistyped or names an unrelated directory', async () => {
    const work = await tempDir()
    try {
      await writeFile(join(work, 'notes.txt'), 'not relay data')
      const missingParent = await runCli(RELAY_BIN, ['--data', join(work, 'no', 'such', 'dir'), '--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0/ws'])
      assert.equal(missingParent.code, 2, missingParent.stderr)
      assert.match(missingParent.stderr, /--data .*no\/such\/dir: neither it nor its parent .*no\/such exists; check the path/)
      const unrelated = await runCli(RELAY_BIN, ['--data', work, '--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0/ws'])
      assert.equal(unrelated.code, 2, unrelated.stderr)
      assert.match(unrelated.stderr, /--data .* holds other files \(notes\.txt\) and no relay data/)
      assert.deepEqual(await readdir(work), ['notes.txt'], 'nothing was written into either')
    } finally {
      await removeDir(work)
    }
  })

  it('prints usage for --help and exits 0', async () => {
    const { code, stdout } = await runCli(RELAY_BIN, ['--help'])
    assert.equal(code, 0)
    for (const flag of ['--listen', '--http', '--data', '--bootstrap', '--origin', '--json', 'PEERLOOM_LISTEN', 'PEERLOOM_MAX_RESERVATIONS_PER_IP']) assert.ok(stdout.includes(flag), flag)
  })
})

describe('peerloom-relay lifecycle', () => {
  it('keeps its peer id across restarts, reports health, and drains on SIGTERM with exit 0', async () => {
    const data = await tempDir()
    try {
      const first = await startRelay([], { data })
      assert.match(first.peerId, /^12D3KooW/)
      assert.ok(first.multiaddrs.every(addr => addr.endsWith(`/p2p/${first.peerId}`)))
      assert.ok(first.multiaddrs.some(addr => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//.test(addr)), 'a loopback ws address with a real port')
      assert.match(first.http, /^http:\/\/127\.0\.0\.1:\d+$/)
      const health = await (await fetch(`${first.http}/health`)).json() as Record<string, unknown>
      assert.equal(health.status, 'ok')
      assert.equal(health.peerId, first.peerId)
      assert.deepEqual(health.multiaddrs, first.multiaddrs)
      for (const key of ['reservations', 'connections', 'uptimeSeconds']) assert.equal(typeof health[key], 'number', key)
      const stopped = await first.stop()
      assert.equal(stopped.code, 0, first.stderr())
      // drained, not cut off by the 10 s grace timer (which also exits 0)
      assert.match(first.stderr(), /peerloom-relay: stopped\n/)
      assert.doesNotMatch(first.stderr(), /drain took too long/)

      const second = await startRelay([], { data })
      assert.equal(second.peerId, first.peerId, 'the identity in the data directory is reused')
      assert.equal((await second.stop()).code, 0)
    } finally {
      await removeDir(data)
    }
  })

  it('prints one address per line without --json', async () => {
    const data = await tempDir()
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, [RELAY_BIN, '--listen', '/ip4/127.0.0.1/tcp/0/ws', '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        let text = ''
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk
          const complete = text.split('\n').filter(line => line !== '')
          if (complete.length >= 2) resolve(complete)
        })
        child.once('exit', code => { reject(new Error(`exited ${String(code)}`)) })
      })
      assert.equal(lines.length, 2)
      for (const line of lines) assert.match(line, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+(\/ws)?\/p2p\/12D3KooW\w+$/)
    } finally {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
      await removeDir(data)
    }
  })
})
