/** The node's request channel: Options → Sites goes through it, and bad requests come back as coded errors. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '@peerloom/shared'
import { handleNodeRequest } from '../src/node/rpc.ts'
import type { NodeRpcComponents, SiteRecord } from '../src/node/rpc.ts'

function components (): { rpc: NodeRpcComponents, sites: Map<string, SiteRecord> } {
  const sites = new Map<string, SiteRecord>([['https://a.example', { origin: 'https://a.example', decision: 'denied', at: 1 }]])
  const rpc: NodeRpcComponents = {
    // the site methods need neither the node nor its transfers
    node: {} as NodeRpcComponents['node'],
    transfers: {} as NodeRpcComponents['transfers'],
    sites: {
      list: async () => [...sites.values()],
      allow: async origin => { sites.set(origin, { origin, decision: 'allowed', at: 2 }) },
      forget: async origin => { sites.delete(origin) }
    }
  }
  return { rpc, sites }
}

test('Options lists, allows and forgets sites through the node', async () => {
  const { rpc, sites } = components()
  assert.deepEqual(await handleNodeRequest(rpc, { method: 'sites' }), { ok: true, result: [{ origin: 'https://a.example', decision: 'denied', at: 1 }] })
  assert.equal((await handleNodeRequest(rpc, { method: 'allowSite', params: { origin: 'https://a.example' } })).ok, true)
  assert.equal(sites.get('https://a.example')?.decision, 'allowed')
  assert.equal((await handleNodeRequest(rpc, { method: 'forgetSite', params: { origin: 'https://a.example' } })).ok, true)
  assert.equal(sites.size, 0)
})

test('an unknown method or a bad parameter is a coded error, not a throw', async () => {
  const { rpc } = components()
  const unknown = await handleNodeRequest(rpc, { method: 'dropTables' })
  assert.equal(unknown.ok, false)
  assert.equal(!unknown.ok && unknown.error.code, ErrorCode.UNSUPPORTED_METHOD)
  const bad = await handleNodeRequest(rpc, { method: 'allowSite', params: { origin: 7 } })
  assert.equal(!bad.ok && bad.error.code, ErrorCode.INVALID_PARAMS)
  assert.match(!bad.ok ? bad.error.message : '', /^allowSite: /)
})
