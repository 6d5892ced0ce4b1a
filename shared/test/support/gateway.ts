/** Test support: a minimal Trustless Gateway (`GET /ipfs/{cid}?format=raw`) on loopback over a blockstore. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CID } from 'multiformats/cid'
import type { MemoryBlockstore } from 'blockstore-core'

export interface TestGateway {
  url: string
  /** Requests served, by CID. */
  served: string[]
  close: () => Promise<void>
}

/** Serves `blockstore` on 127.0.0.1; `tamper` flips the first byte of every block. */
export async function startTestGateway (blockstore: MemoryBlockstore, options: { tamper?: boolean } = {}): Promise<TestGateway> {
  const served: string[] = []
  const server = createServer((req, res) => {
    void (async () => {
      const match = /^\/ipfs\/([a-z0-9]+)\?format=raw$/.exec(req.url ?? '')
      let cid: CID | null = null
      try { cid = match === null ? null : CID.parse(match[1]!) } catch { cid = null }
      if (cid === null) { res.writeHead(400).end(); return }
      if (!(await blockstore.has(cid))) { res.writeHead(404).end(); return }
      const parts: Uint8Array[] = []
      for await (const part of blockstore.get(cid)) parts.push(part)
      const bytes = Buffer.concat(parts)
      if (options.tamper === true) bytes[0]! ^= 1
      served.push(cid.toString())
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'access-control-allow-origin': '*' }).end(bytes)
    })()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: async () => { await new Promise(resolve => server.close(resolve)) }
  }
}
