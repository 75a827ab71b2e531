import { createServer, type IncomingMessage, request, type Server } from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"

/** A running {@link startBalancer}. */
export interface Balancer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** How many requests and WebSocket upgrades each node was dealt, by port. */
  readonly dealt: ReadonlyMap<number, number>
  close(): Promise<void>
}

/**
 * The worst balancer for sessions, on purpose: it deals every HTTP request and every WebSocket upgrade to
 * the next node in turn, with no affinity (no sticky cookie, no `ip_hash`). A node that refuses the
 * connection (it is stopping) is skipped, as nginx's `proxy_next_upstream error` does. Responses stream
 * through unbuffered, so event streams and held long polls work. Not for production: use nginx or your
 * cloud's balancer, configured the same way (docs/scaling.md).
 *
 * @example
 * const balancer = await startBalancer([a.port, b.port])
 * console.log(`${balancer.url}/switchyard`)
 */
export async function startBalancer(ports: readonly number[], listenPort = 0): Promise<Balancer> {
  const dealt = new Map(ports.map((port) => [port, 0]))
  /** Upgraded sockets: the HTTP server no longer tracks them, so `close()` does. */
  const piped = new Set<Socket>()
  let turn = 0
  // #region balancer
  /** The next node in turn, then the one after it, …: each port once. */
  const order = () => {
    const start = turn++ % ports.length
    return ports.map((_, i) => ports[(start + i) % ports.length] as number)
  }

  /** Opens a TCP connection to the first node of `candidates` that accepts one. */
  const connectToNode = (candidates: readonly number[]): Promise<{ socket: Socket; port: number }> =>
    new Promise((resolve, reject) => {
      const [port, ...rest] = candidates
      if (port === undefined) return reject(new Error("no node accepted the connection"))
      const socket = connect(port, "127.0.0.1")
      socket.once("connect", () => resolve({ socket, port }))
      socket.once("error", () => connectToNode(rest).then(resolve, reject))
    })

  const server: Server = createServer(async (req, res) => {
    let upstream: { socket: Socket; port: number }
    try {
      upstream = await connectToNode(order())
    } catch {
      res.writeHead(502).end()
      return
    }
    dealt.set(upstream.port, (dealt.get(upstream.port) ?? 0) + 1)
    // One connection to the node per request (no pool): the next request is dealt afresh.
    const headers = { ...req.headers, connection: "close" }
    const forwarded = request(
      { createConnection: () => upstream.socket, method: req.method, path: req.url, headers },
      (answer) => {
        // The node's "close" is about our connection to it, not the client's to us.
        const { connection: _, "keep-alive": __, ...answered } = answer.headers
        res.writeHead(answer.statusCode ?? 502, answered)
        res.flushHeaders() // an event stream's headers go out before its first event
        answer.pipe(res)
      },
    )
    forwarded.on("error", () => res.destroy())
    res.on("close", () => forwarded.destroy()) // the client left: so does the request to the node
    req.pipe(forwarded)
  })

  // A WebSocket upgrade: pipe the raw bytes both ways, after replaying the request line and headers.
  server.on("upgrade", async (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on("error", () => client.destroy())
    let upstream: { socket: Socket; port: number }
    try {
      upstream = await connectToNode(order())
    } catch {
      client.destroy()
      return
    }
    dealt.set(upstream.port, (dealt.get(upstream.port) ?? 0) + 1)
    const node = upstream.socket
    node.on("error", () => client.destroy())
    node.on("close", () => client.destroy())
    client.on("close", () => node.destroy())
    piped.add(client)
    client.on("close", () => piped.delete(client))
    const lines = [`${req.method} ${req.url} HTTP/1.1`]
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
    node.write(`${lines.join("\r\n")}\r\n\r\n`)
    node.write(head)
    node.pipe(client).pipe(node)
  })
  // #endregion balancer

  server.on("connection", (socket: Socket) => socket.setNoDelay(true))
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(listenPort, "127.0.0.1", resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dealt,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const socket of piped) socket.destroy()
      }),
  }
}
