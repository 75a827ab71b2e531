import { createServer, type Server, type Socket } from "node:net"

/**
 * A TCP proxy on 127.0.0.1 in front of a server, for fault tests: `drop()` cuts every connection
 * abruptly (RST where possible), `stall(true)` holds bytes both ways without closing anything, as a
 * network that stopped delivering would; `stall(false)` lets them through again.
 */
export class TcpProxy implements AsyncDisposable {
  private readonly server: Server
  private readonly pairs = new Set<[Socket, Socket]>()
  private stalled = false
  private held: Array<[Socket, Buffer]> = []
  /** The sockets to the target server (the other side of each pair goes to a client). */
  private readonly upstreams = new WeakSet<Socket>()
  port = 0

  private constructor(private readonly targetPort: number) {
    this.server = createServer((downstream) => this.pipe(downstream))
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort)
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve))
    proxy.port = (proxy.server.address() as { port: number }).port
    return proxy
  }

  get connections(): number {
    return this.pairs.size
  }

  private pipe(downstream: Socket): void {
    const upstream = new (downstream.constructor as typeof Socket)()
    const pair: [Socket, Socket] = [downstream, upstream]
    this.upstreams.add(upstream)
    this.pairs.add(pair)
    const end = () => {
      this.pairs.delete(pair)
      downstream.destroy()
      upstream.destroy()
    }
    for (const s of pair) {
      s.setNoDelay(true)
      s.on("error", end)
      s.on("close", end)
    }
    // While stalled, bytes wait (as TCP would retransmit them) and flow again when the stall ends.
    downstream.on("data", (chunk) => this.forward(upstream, chunk))
    upstream.on("data", (chunk) => this.forward(downstream, chunk))
    upstream.connect(this.targetPort, "127.0.0.1")
  }

  /** Cuts every connection (RST both ways); returns how many. */
  drop(): number {
    const pairs = [...this.pairs]
    for (const [a, b] of pairs) {
      a.resetAndDestroy()
      b.resetAndDestroy()
    }
    this.pairs.clear()
    return pairs.length
  }

  private forward(to: Socket, chunk: Buffer): void {
    if (this.stalled) this.held.push([to, chunk])
    else to.write(chunk)
  }

  /** The bytes a stall holds on their way to the target server, as text: a test waits for a request it knows. */
  heldUpstream(): string {
    return this.held
      .filter(([to]) => this.upstreams.has(to))
      .map(([, chunk]) => chunk.toString("latin1"))
      .join("")
  }

  stall(on: boolean): void {
    this.stalled = on
    if (on) return
    const held = this.held
    this.held = []
    for (const [to, chunk] of held) if (!to.destroyed) to.write(chunk)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.drop()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
