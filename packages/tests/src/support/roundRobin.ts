import { createServer, type IncomingMessage, request, type Server } from "node:http"
import { connect, type Socket } from "node:net"
import type { Duplex } from "node:stream"

/**
 * A load balancer with no affinity, for the sessions-across-nodes tests: every HTTP request and every
 * WebSocket upgrade goes to the next live backend in turn (one request per upstream connection, so
 * keep-alive cannot pin a client to a node). `out(port)` takes a backend out of the rotation and cuts what
 * it was carrying, as a balancer would for a dead node. The round-robin of the cluster tests
 * (`support/cluster/`) is the full one; this one is kept minimal.
 */
export class RoundRobin implements AsyncDisposable {
  private readonly server: Server
  private readonly sockets = new Map<number, Set<Socket | Duplex>>()
  private turn = 0
  port = 0
  /** Requests and upgrades dealt, per backend port. */
  readonly dealt = new Map<number, number>()

  private constructor(private backends: number[]) {
    this.server = createServer((req, res) => {
      const port = this.next()
      const upstream = request(
        { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        },
      )
      this.track(port, upstream.on("socket", (s) => this.track(port, s)).socket ?? undefined)
      upstream.on("error", () => res.destroy())
      res.on("close", () => upstream.destroy())
      req.pipe(upstream)
    })
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const port = this.next()
      const upstream = connect(port, "127.0.0.1")
      this.track(port, upstream)
      this.track(port, socket)
      const end = () => {
        socket.destroy()
        upstream.destroy()
      }
      upstream.on("error", end).on("close", end)
      socket.on("error", end).on("close", end)
      let text = `${req.method} ${req.url} HTTP/1.1\r\n`
      for (let i = 0; i < req.rawHeaders.length; i += 2) text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`
      upstream.write(`${text}\r\n`)
      upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
  }

  static async start(backends: number[]): Promise<RoundRobin> {
    const proxy = new RoundRobin(backends)
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve))
    proxy.port = (proxy.server.address() as { port: number }).port
    return proxy
  }

  /** Takes `port` out of the rotation and cuts every connection to it. */
  out(port: number): void {
    this.backends = this.backends.filter((p) => p !== port)
    for (const socket of this.sockets.get(port) ?? []) socket.destroy()
  }

  private next(): number {
    const port = this.backends[this.turn++ % this.backends.length] as number
    this.dealt.set(port, (this.dealt.get(port) ?? 0) + 1)
    return port
  }

  private track(port: number, socket: Socket | Duplex | undefined): void {
    if (!socket) return
    const set = this.sockets.get(port) ?? new Set()
    this.sockets.set(port, set)
    set.add(socket)
    socket.once("close", () => set.delete(socket))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.server.closeAllConnections()
    for (const set of this.sockets.values()) for (const socket of set) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
