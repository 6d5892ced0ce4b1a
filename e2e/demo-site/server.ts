/**
 * The demo site: a page that uses Peerloom through the SDK (the extension when present, the
 * origin gateway otherwise) to list, fetch, play and publish content, and a call page
 * (`/call.html`). The devnet serves it for people; the page-API and call e2e tests drive it.
 * It is bundled with esbuild when it starts.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'

export interface DemoContent {
  title: string
  link: string
  mime: string
  size: number
  sha256?: string
}

export interface DemoSiteOptions {
  /** 0 picks a free port. @default 0 */
  port?: number
  host?: string
  /** Origin gateway base URLs for visitors without the extension. */
  gateways: string[]
  content: DemoContent[]
}

export interface DemoSite {
  url: string
  server: Server
  stop: () => Promise<void>
}

const here = import.meta.dirname

/** Bundles the page script and serves the site until `stop()`. */
export async function startDemoSite (options: DemoSiteOptions): Promise<DemoSite> {
  const bundle = await build({
    entryPoints: { app: join(here, 'app.ts'), call: join(here, 'call-app.ts') },
    outdir: join(here, '.bundle'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'error'
  })
  const script = (name: string): Uint8Array => {
    const file = bundle.outputFiles.find(f => f.path.endsWith(`/${name}`))
    if (file === undefined) throw new Error(`the demo site bundle has no ${name}`)
    return file.contents
  }
  const files: Record<string, { type: string, body: string | Uint8Array }> = {
    '/': { type: 'text/html; charset=utf-8', body: await readFile(join(here, 'index.html'), 'utf8') },
    '/app.js': { type: 'text/javascript; charset=utf-8', body: script('app.js') },
    '/call.html': { type: 'text/html; charset=utf-8', body: await readFile(join(here, 'call.html'), 'utf8') },
    '/call.js': { type: 'text/javascript; charset=utf-8', body: script('call.js') },
    '/config.json': { type: 'application/json', body: JSON.stringify({ gateways: options.gateways, content: options.content }) }
  }
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const file = files[path === '/index.html' ? '/' : path]
    if (req.method !== 'GET' || file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body)
  })
  await new Promise<void>(resolve => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/`,
    server,
    stop: async () => {
      const closed = new Promise(resolve => server.close(resolve))
      server.closeAllConnections() // browsers keep idle connections open; close() alone would wait for them
      await closed
    }
  }
}
