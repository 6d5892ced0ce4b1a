/** The HTTP API under bad input: malformed requests get 400 JSON and the relay keeps serving. */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { WAIT_MS, removeDir, startRelay } from './helpers.ts'
import type { RunningRelay } from './helpers.ts'

/** Sends raw bytes on a fresh TCP connection and returns everything the server answered. */
async function rawRequest (http: string, bytes: string): Promise<string> {
  const url = new URL(http)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (text: string) => { answer += text })
    socket.once('error', reject)
    socket.once('close', () => { resolve(answer) })
    socket.setTimeout(WAIT_MS, () => { socket.destroy() })
    socket.write(bytes)
  })
}

describe('HTTP API', () => {
  let relay: RunningRelay

  /** Waits until the relay's stderr holds a line matching `pattern` (it is written just after the answer). */
  const logLine = async (pattern: RegExp): Promise<string> => {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const line = relay.stderr().split('\n').find(candidate => pattern.test(candidate))
      if (line !== undefined) return line
      if (Date.now() > deadline) assert.fail(`no log line matching ${String(pattern)} in:\n${relay.stderr()}`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  before(async () => { relay = await startRelay() })
  after(async () => {
    await relay.stop()
    await removeDir(relay.data)
  })

  it('answers unparseable HTTP with a JSON 400 and keeps serving', async () => {
    for (const garbage of ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n', 'NOT-HTTP AT ALL\r\n\r\n']) {
      const answer = await rawRequest(relay.http, garbage)
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/)
      assert.match(answer, /"malformed HTTP request"/)
    }
    const health = await fetch(`${relay.http}/health`)
    assert.equal(health.status, 200)
  })

  it('answers bad parameters with a JSON 400 naming the problem', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/routing/v1/providers/not-a-cid', /"not-a-cid" is not a CID/],
      ['/routing/v1/providers/%zz', /URL is malformed/],
      ['/routing/v1/peers/QmNotAPeer', /is not a peer id/],
      ['/ipfs/bafy-broken?format=raw', /is not a CID/]
    ]
    for (const [path, message] of cases) {
      const res = await fetch(relay.http + path)
      assert.equal(res.status, path.startsWith('/ipfs/') ? 501 : 400, path)
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
      const body = await res.json() as { error: { code: number, message: string } }
      if (!path.startsWith('/ipfs/')) {
        assert.equal(body.error.code, 5000)
        assert.match(body.error.message, message)
      } else {
        assert.match(body.error.message, /not an origin/, 'a relay without --origin says so')
      }
    }
    const long = await fetch(`${relay.http}/routing/v1/providers/${'b'.repeat(3000)}`)
    assert.equal(long.status, 414)
  })

  it('answers unknown routes with 404, wrong methods with 405, preflights with CORS', async () => {
    const unknown = await fetch(`${relay.http}/nothing-here`)
    assert.equal(unknown.status, 404)
    assert.equal((await unknown.json() as { error: { code: number } }).error.code, 5001)
    const wrong = await fetch(`${relay.http}/health`, { method: 'DELETE' })
    assert.equal(wrong.status, 405)
    const preflight = await fetch(`${relay.http}/routing/v1/providers/bafkqaaa`, { method: 'OPTIONS', headers: { origin: 'chrome-extension://abc', 'access-control-request-method': 'GET' } })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*')
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /GET/)
  })

  it('logs a routine refusal as one line with method, path, status and code, without a stack', async () => {
    const notOrigin = await fetch(`${relay.http}/api/v1/report/0x${'ab'.repeat(32)}`)
    assert.equal(notOrigin.status, 501)
    const keys = await fetch(`${relay.http}/keys/v1`, { method: 'POST', body: '{}' })
    assert.equal(keys.status, 501)
    const line501 = await logLine(/HTTP GET \/api\/v1\/report\/0xabab\S* → 501 HttpError 4200: this relay is not an origin; start it with --origin to report/)
    assert.ok(line501.length < 400, line501)
    await logLine(/HTTP POST \/keys\/v1 → 501 HttpError 4200: this relay is not an origin; start it with --origin to run a key service/)
    await logLine(/HTTP GET \/nothing-here → 404 NotFoundError 5001: no such endpoint/)
    assert.doesNotMatch(relay.stderr(), /\n\s+at /, 'no stack trace for routine answers')
  })

  it('exposes Prometheus metrics for connections, reservations, relaying and HTTP', async () => {
    const res = await fetch(`${relay.http}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    const text = await res.text()
    for (const name of ['peerloom_relay_connections', 'peerloom_relay_reservations', 'peerloom_relay_circuits', 'peerloom_relay_relayed_bytes_total', 'peerloom_relay_circuits_opened_total', 'peerloom_gateway_blocks_served_total', 'peerloom_gateway_bytes_served_total', 'peerloom_http_requests_total', 'process_resident_memory_bytes', 'libp2p_data_transfer_bytes_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
    assert.match(text, /peerloom_http_requests_total\{route="malformed",status="400"\} [1-9]/)
  })
})
