/**
 * A loopback TCP proxy in front of a chain's JSON-RPC port, to make the chain unreachable for
 * one node while it keeps running: `close()` stops listening and cuts every open connection
 * (new ones are refused), `open()` listens again on the same port.
 *
 * @example
 * ```ts
 * const proxy = await startRpcProxy(chain.rpcUrl)
 * await profile.configure({ rpcUrl: proxy.url })
 * await proxy.close()   // connection refused
 * await proxy.open()    // forwarding again
 * ```
 */
import { createConnection, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { once } from 'node:events'

export interface RpcProxy {
  /** `http://127.0.0.1:<port>`: the same while closed and after reopening. */
  url: string
  port: number
  readonly listening: boolean
  /** Connections accepted since the start (each forwarded to the target). */
  readonly accepted: number
  /** Stops listening and destroys every open connection: the port then refuses connections. */
  close: () => Promise<void>
  /** Listens on the same port again. */
  open: () => Promise<void>
}

/** Starts a proxy on a free loopback port forwarding to `target` (an `http://127.0.0.1:<port>` URL). */
export async function startRpcProxy (target: string): Promise<RpcProxy> {
  const { hostname, port: targetPort } = new URL(target)
  const sockets = new Set<Socket>()
  let accepted = 0
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => { sockets.delete(socket) })
  }
  const server: Server = createServer(client => {
    accepted++
    const upstream = createConnection({ host: hostname, port: Number(targetPort) })
    track(client)
    track(upstream)
    client.pipe(upstream).pipe(client)
    // either side failing ends both: the node sees its request cut, as with a chain that went away
    client.once('error', () => upstream.destroy())
    upstream.once('error', () => client.destroy())
    client.once('close', () => upstream.destroy())
    upstream.once('close', () => client.destroy())
  })
  const listen = async (port: number): Promise<number> => {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return (server.address() as { port: number }).port
  }
  const port = await listen(0)
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get listening () { return server.listening },
    get accepted () { return accepted },
    close: async () => {
      if (!server.listening) return
      const closed = once(server, 'close')
      server.close()
      for (const socket of sockets) socket.destroy()
      await closed
    },
    open: async () => {
      if (!server.listening) await listen(port)
    }
  }
}
