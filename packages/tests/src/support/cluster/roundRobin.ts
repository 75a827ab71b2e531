import {
  Agent,
  type ClientRequest,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"
import { abort, endToEnd, forward, type Gate, Lane, upgradeHead } from "../chaosProxy.ts"

/** What a {@link RoundRobinProxy} dealt to one upstream. */
export interface Dealt {
  /** HTTP requests forwarded to it (WebSocket upgrades are counted apart). */
  requests: number
  /** WebSocket upgrades piped to it. */
  upgrades: number
  /** Requests and upgrades it refused (connection refused or reset before an answer), passed to the next. */
  refused: number
}

/**
 * A round-robin load balancer on 127.0.0.1 in front of several HTTP servers, for many-node tests: it deals
 * every HTTP request (even the second request of a keep-alive connection) and every WebSocket upgrade to
 * the next upstream in turn, with no affinity at all, the worst a load balancer can do to a session.
 * Responses stream through unbuffered (event streams, held long polls); a client that leaves aborts its
 * upstream request. An upstream that refuses a connection is skipped for that request, as nginx's
 * `proxy_next_upstream error` does. `stall()` and `drop()` act like {@link TcpProxy}'s, so the transport
 * contract suite can run through it.
 *
 * @example
 * await using proxy = await RoundRobinProxy.start([a.port, b.port, c.port])
 * const client = createClient(Contract, { url: `${proxy.url}/switchyard` })
 * proxy.remove(b.port) // b is being restarted: deal nothing to it
 * expect(proxy.dealt.get(a.port)?.requests).toBeGreaterThan(0)
 */
export class RoundRobinProxy implements AsyncDisposable {
  /** The port the proxy listens on, on 127.0.0.1. */
  readonly port: number
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  private readonly agent = new Agent({ keepAlive: true })
  private readonly rotation: number[]
  private readonly counts = new Map<number, Dealt>()
  private turn = 0
  /** Each open client-side socket, with the resets of the upstream connections it is using right now. */
  private readonly clients = new Map<Socket, Set<() => void>>()
  /** What each upstream carries now, as the resets that cut it (for `out`). */
  private readonly carrying = new Map<number, Set<() => void>>()
  private readonly gate: Gate = { stalled: false, delayMs: 0, lanes: new Set() }
  /** Client connections accepted so far. */
  connectionsAccepted = 0

  private constructor(
    private readonly server: Server,
    upstreams: readonly number[],
  ) {
    this.port = (server.address() as AddressInfo).port
    this.url = `http://127.0.0.1:${this.port}`
    this.rotation = [...upstreams]
    for (const port of upstreams) this.counts.set(port, { requests: 0, upgrades: 0, refused: 0 })
    server.on("error", ignore)
    server.on("connection", (socket: Socket) => this.track(socket))
    server.on("request", (req: IncomingMessage, res: ServerResponse) => this.forwardRequest(req, res))
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => this.forwardUpgrade(req, socket, head))
  }

  /** Starts a proxy on a free port of 127.0.0.1 in front of `127.0.0.1:<port>` for each of `upstreams`. */
  static async start(upstreams: readonly number[]): Promise<RoundRobinProxy> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(0, "127.0.0.1", resolve)
    })
    return new RoundRobinProxy(server, upstreams)
  }

  /** The upstream ports in the rotation, in dealing order. */
  get upstreams(): readonly number[] {
    return [...this.rotation]
  }

  /** Puts an upstream (back) into the rotation, last. */
  add(port: number): void {
    if (!this.rotation.includes(port)) this.rotation.push(port)
    if (!this.counts.has(port)) this.counts.set(port, { requests: 0, upgrades: 0, refused: 0 })
  }

  /** Takes an upstream out of the rotation; what it is already serving goes on. */
  remove(port: number): void {
    const i = this.rotation.indexOf(port)
    if (i !== -1) this.rotation.splice(i, 1)
  }

  /**
   * Takes an upstream out of the rotation and cuts what it carries (RST), as a balancer does for a dead
   * node: the clients of those requests and WebSockets see their connection fail and come back elsewhere.
   */
  out(port: number): void {
    this.remove(port)
    for (const reset of [...(this.carrying.get(port) ?? [])]) reset()
  }

  /** A snapshot of what was dealt to each upstream ever in the rotation. */
  get dealt(): ReadonlyMap<number, Readonly<Dealt>> {
    return new Map([...this.counts].map(([port, dealt]) => [port, { ...dealt }]))
  }

  /** The number of open client-side connections (upgraded ones included). */
  get connections(): number {
    return this.clients.size
  }

  /** `stall(true)` holds every byte both ways without closing anything; `stall(false)` lets them through. */
  stall(on: boolean): void {
    this.gate.stalled = on
    if (!on) for (const lane of [...this.gate.lanes]) lane.pump()
  }

  /** Cuts every client connection and the upstream connections they use (RST both ways); returns how many. */
  drop(): number {
    const open = [...this.clients]
    this.clients.clear()
    for (const [socket, resets] of open) {
      for (const reset of resets) reset()
      abort(socket)
    }
    return open.length
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.drop()
    for (const lane of [...this.gate.lanes]) lane.dispose()
    this.agent.destroy()
    await closed
  }

  /** The next upstream in turn, or undefined when the rotation is empty. */
  private next(): number | undefined {
    if (this.rotation.length === 0) return undefined
    const port = this.rotation[this.turn % this.rotation.length] as number
    this.turn = (this.turn + 1) % this.rotation.length
    return port
  }

  private count(port: number): Dealt {
    const dealt = this.counts.get(port) ?? { requests: 0, upgrades: 0, refused: 0 }
    this.counts.set(port, dealt)
    return dealt
  }

  /** Records that `port` carries what `reset` cuts, until `done` says it is over. */
  private carry(port: number, reset: () => void): () => void {
    const set = this.carrying.get(port) ?? new Set()
    this.carrying.set(port, set)
    set.add(reset)
    return () => set.delete(reset)
  }

  private track(socket: Socket): void {
    this.connectionsAccepted++
    socket.setNoDelay(true)
    socket.on("error", ignore)
    this.clients.set(socket, new Set())
    socket.on("close", () => this.clients.delete(socket))
  }

  private forwardRequest(req: IncomingMessage, res: ServerResponse): void {
    const resets = this.clients.get(req.socket)
    const toClient = new Lane(this.gate)
    // The body is kept until an upstream answers, so that a refused request can go to the next one.
    const body: Buffer[] = []
    let ended = false
    let answered = false
    let current: { upstream: ClientRequest; lane: Lane } | undefined
    let failed = false
    const fail = (status: number, text: string) => {
      if (failed) return
      failed = true
      toClient.push(() => {
        if (res.headersSent) abort(req.socket)
        else res.writeHead(status, { "content-type": "text/plain" }).end(text)
      })
    }
    const attempt = (tries: number) => {
      const port = this.next()
      if (port === undefined) return fail(503, "no upstream")
      this.count(port).requests++
      const upstream = request({
        host: "127.0.0.1",
        port,
        agent: this.agent,
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: endToEnd(req.headers),
      })
      const lane = new Lane(this.gate)
      current = { upstream, lane }
      const reset = () => {
        abort(upstream.socket)
        upstream.destroy()
      }
      resets?.add(reset)
      const carried = this.carry(port, reset)
      upstream.on("close", () => {
        resets?.delete(reset)
        carried()
      })
      for (const chunk of body) lane.push(() => upstream.write(chunk))
      if (ended) lane.push(() => upstream.end())
      upstream.on("socket", (socket: Socket) => socket.setNoDelay(true))
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        lane.dispose()
        const unused = error.code === "ECONNREFUSED" || (error.code === "ECONNRESET" && upstream.reusedSocket)
        if (!answered && !res.writableEnded && unused && tries < this.rotation.length) {
          this.count(port).refused++
          this.count(port).requests--
          return attempt(tries + 1)
        }
        fail(502, "bad gateway")
      })
      upstream.on("response", (from: IncomingMessage) => {
        answered = true
        body.length = 0
        this.relayResponse(from, res, toClient, () => fail(502, "bad gateway"))
      })
    }
    res.on("close", () => {
      toClient.dispose()
      current?.lane.dispose()
      // The client left before the whole response reached it: let the upstream see it leave.
      if (!res.writableFinished) current?.upstream.destroy()
    })
    req.on("error", ignore)
    req.on("data", (chunk: Buffer) => {
      if (!answered) body.push(chunk)
      const target = current
      if (target) target.lane.push(() => forward(req, target.upstream, chunk))
    })
    req.on("end", () => {
      ended = true
      const target = current
      target?.lane.push(() => target.upstream.end())
    })
    attempt(1)
  }

  private relayResponse(from: IncomingMessage, to: ServerResponse, lane: Lane, fail: () => void): void {
    from.on("error", ignore)
    from.on("close", () => {
      if (!from.complete) fail()
    })
    lane.push(() => {
      to.writeHead(from.statusCode ?? 502, from.statusMessage, endToEnd(from.headers))
      to.flushHeaders()
    })
    from.on("data", (chunk: Buffer) => lane.push(() => forward(from, to, chunk)))
    from.on("end", () => lane.push(() => to.end()))
  }

  private forwardUpgrade(req: IncomingMessage, client: Socket, head: Buffer): void {
    const resets = this.clients.get(client)
    const toClient = new Lane(this.gate)
    // What the client sent is kept until an upstream answers, so that a refused upgrade can go to the next.
    const sent: Buffer[] = [Buffer.concat([Buffer.from(upgradeHead(req), "latin1"), head])]
    let answered = false
    let current: { upstream: Socket; lane: Lane } | undefined
    const attempt = (tries: number) => {
      const port = this.next()
      if (port === undefined) {
        client.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        return
      }
      this.count(port).upgrades++
      const upstream = connect(port, "127.0.0.1")
      upstream.setNoDelay(true)
      const lane = new Lane(this.gate)
      current = { upstream, lane }
      const reset = () => abort(upstream)
      resets?.add(reset)
      const carried = this.carry(port, reset)
      for (const chunk of sent) lane.push(() => upstream.write(chunk))
      upstream.on("data", (chunk: Buffer) => {
        answered = true
        sent.length = 0
        toClient.push(() => forward(upstream, client, chunk))
      })
      upstream.on("end", () => toClient.push(() => client.end()))
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        if (answered) return abort(client)
        lane.dispose()
        resets?.delete(reset)
        if (error.code === "ECONNREFUSED" && tries < this.rotation.length && !client.destroyed) {
          this.count(port).refused++
          this.count(port).upgrades--
          return attempt(tries + 1)
        }
        toClient.push(() => client.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
      })
      upstream.on("close", () => {
        resets?.delete(reset)
        carried()
        if (current?.upstream === upstream && answered) {
          lane.dispose()
          toClient.push(() => client.end())
        }
      })
    }
    client.on("data", (chunk: Buffer) => {
      if (!answered) sent.push(chunk)
      const target = current
      if (target) target.lane.push(() => forward(client, target.upstream, chunk))
    })
    client.on("end", () => {
      const target = current
      target?.lane.push(() => target.upstream.end())
    })
    client.on("error", () => current && abort(current.upstream))
    // A client gone is gone: what it had queued for the upstream no longer matters.
    client.on("close", () => {
      current?.lane.dispose()
      current?.upstream.end()
      toClient.dispose()
    })
    attempt(1)
  }
}

function ignore(): void {}
