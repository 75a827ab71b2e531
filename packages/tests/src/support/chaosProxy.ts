import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type Server,
  type ServerResponse,
} from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"
import type { Readable, Writable } from "node:stream"

/** How a {@link ChaosProxy} misbehaves. Every field can be changed while it runs, with `set`. */
export interface ChaosOptions {
  /** Refuse WebSocket upgrades like a proxy that blocks them: answer `403`, or (`"reset"`) reset the socket. */
  blockUpgrades?: false | "403" | "reset"
  /**
   * Hold streamed responses (`Content-Type: text/event-stream`, or no `Content-Length`) until they end, like
   * a misconfigured buffering proxy: the client sees nothing, not even the status, until the server ends the
   * response. Applies to responses whose head arrives after it is set.
   */
  bufferStreams?: boolean
  /**
   * Pass event streams (`Content-Type: text/event-stream`) on in lumps, every this many ms, like a proxy
   * that buffers and flushes on a timer: the head at once, then what came in each period, together. Applies
   * to responses whose head arrives after it is set.
   */
  flushStreamsEveryMs?: number | undefined
  /**
   * Cut (reset) the connection of any request whose response has not completed within this many ms, like a
   * proxy that cuts held requests (long polls, event streams). Applies to requests that start after it is set.
   */
  cutHeldAfterMs?: number | undefined
  /**
   * Delay every forwarded step by this many ms, both ways, keeping their order: request heads and body
   * chunks, response heads and chunks, and the bytes of upgraded connections.
   */
  delayMs?: number
}

/** What a {@link ChaosProxy} has done so far. */
export interface ChaosStats {
  /** HTTP requests received (WebSocket upgrades are counted apart). */
  requests: number
  /** WebSocket upgrades forwarded to the target. */
  upgrades: number
  /** WebSocket upgrades refused because of `blockUpgrades`. */
  refusedUpgrades: number
  /** Requests cut because of `cutHeldAfterMs`. */
  cutHeld: number
  /** Connections cut by `cut()`, dispose included. */
  cut: number
}

/**
 * An HTTP-aware proxy on 127.0.0.1 in front of an HTTP server that also takes WebSocket upgrades, for fault
 * tests: it can block upgrades, buffer event streams, cut held requests, delay or stall traffic, and cut
 * connections at random, the way real networks and proxies misbehave. Unlike the TCP proxy (`tcpProxy.ts`)
 * it sees requests and responses, so it can treat event streams, long polls and upgrades differently.
 *
 * @example
 * await using proxy = await ChaosProxy.start(server.port, { blockUpgrades: "403" })
 * const client = createClient(Contract, { url: `${proxy.url}/switchyard` }) // should settle on SSE
 * proxy.set({ blockUpgrades: false, bufferStreams: true })
 * proxy.cut(0.1) // a tenth of the open connections, picked at random
 */
export class ChaosProxy implements AsyncDisposable {
  /** The port the proxy listens on, on 127.0.0.1. */
  readonly port: number
  /** `http://127.0.0.1:<port>`: where clients should connect instead of the target. */
  readonly url: string
  private readonly agent = new Agent({ keepAlive: true })
  /** Each open client-side socket, with the resets of the upstream connections it is using right now. */
  private readonly clients = new Map<Socket, Set<() => void>>()
  private readonly gate: Gate = { stalled: false, delayMs: 0, lanes: new Set() }
  private readonly counts: ChaosStats = { requests: 0, upgrades: 0, refusedUpgrades: 0, cutHeld: 0, cut: 0 }
  private options: ChaosOptions = {}

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
    options: ChaosOptions,
  ) {
    this.port = (server.address() as AddressInfo).port
    this.url = `http://127.0.0.1:${this.port}`
    this.set(options)
    // Accept failures (EMFILE under a big chaos run) must not crash the test process.
    server.on("error", ignore)
    server.on("connection", (socket: Socket) => this.track(socket))
    server.on("request", (req: IncomingMessage, res: ServerResponse) => this.forwardRequest(req, res))
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => this.forwardUpgrade(req, socket, head))
  }

  /**
   * Starts a proxy on 127.0.0.1 (a free port) in front of the server on `127.0.0.1:<targetPort>`.
   *
   * @example
   * await using proxy = await ChaosProxy.start(target.port, { cutHeldAfterMs: 1000 })
   */
  static async start(targetPort: number, options: ChaosOptions = {}): Promise<ChaosProxy> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(0, "127.0.0.1", resolve)
    })
    return new ChaosProxy(server, targetPort, options)
  }

  /** Changes how the proxy behaves from now on; the fields not given keep their value. */
  set(options: Partial<ChaosOptions>): void {
    this.options = { ...this.options, ...options }
    this.gate.delayMs = this.options.delayMs ?? 0
  }

  /** The number of open client-side connections (upgraded ones included). */
  get connections(): number {
    return this.clients.size
  }

  /** A snapshot of what the proxy has done so far. */
  get stats(): Readonly<ChaosStats> {
    return { ...this.counts }
  }

  /**
   * `stall(true)` holds every byte both ways (HTTP requests and responses, upgraded connections) without
   * closing anything, as a network that stopped delivering would; `stall(false)` lets them through, in order.
   */
  stall(on: boolean): void {
    this.gate.stalled = on
    if (!on) for (const lane of [...this.gate.lanes]) lane.pump()
  }

  /**
   * Cuts that fraction (default all) of the open client-side connections, picked with `random`, resetting
   * them and the upstream connections they use, so that both the client and the target notice. Returns how
   * many it cut: `fraction × open`, rounded up with the probability of the remainder so that repeated cuts
   * average exactly `fraction`.
   */
  cut(fraction = 1, random: () => number = Math.random): number {
    const open = [...this.clients.keys()]
    const exact = Math.min(Math.max(fraction, 0), 1) * open.length
    const count = Math.floor(exact) + (random() < exact - Math.floor(exact) ? 1 : 0)
    for (let i = 0; i < count; i++) {
      // A partial Fisher–Yates shuffle: open[0..i) are the ones cut so far.
      const j = Math.min(i + Math.floor(random() * (open.length - i)), open.length - 1)
      const picked = open[j] as Socket
      open[j] = open[i] as Socket
      for (const reset of this.clients.get(picked) ?? []) reset()
      this.clients.delete(picked)
      abort(picked)
    }
    this.counts.cut += count
    return count
  }

  /** Cuts every connection, drops whatever is held or delayed, and closes the proxy. */
  async [Symbol.asyncDispose](): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.cut()
    for (const lane of [...this.gate.lanes]) lane.dispose()
    this.agent.destroy()
    await closed
  }

  private track(socket: Socket): void {
    socket.setNoDelay(true)
    // Kept after an upgrade, when the HTTP server has removed its own listeners.
    socket.on("error", ignore)
    this.clients.set(socket, new Set())
    socket.on("close", () => this.clients.delete(socket))
  }

  private forwardRequest(req: IncomingMessage, res: ServerResponse): void {
    this.counts.requests++
    const client = req.socket
    const toTarget = new Lane(this.gate)
    const toClient = new Lane(this.gate)
    const upstream = request({
      host: "127.0.0.1",
      port: this.targetPort,
      agent: this.agent,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: endToEnd(req.headers),
    })
    const reset = () => {
      abort(upstream.socket)
      upstream.destroy()
    }
    const resets = this.clients.get(client)
    resets?.add(reset)
    const heldMs = this.options.cutHeldAfterMs
    const held =
      heldMs === undefined
        ? undefined
        : setTimeout(() => {
            this.counts.cutHeld++
            reset()
            abort(client)
          }, heldMs).unref()
    res.on("close", () => {
      clearTimeout(held)
      resets?.delete(reset)
      toTarget.dispose()
      toClient.dispose()
      // The client left before the whole response reached it: let the target see it leave.
      if (!res.writableFinished) upstream.destroy()
    })
    let failed = false
    const fail = () => {
      if (failed) return
      failed = true
      toClient.push(() => {
        if (res.headersSent) abort(client)
        else res.writeHead(502, { "content-type": "text/plain" }).end("bad gateway")
      })
    }

    req.on("error", ignore)
    req.on("data", (chunk: Buffer) => toTarget.push(() => forward(req, upstream, chunk)))
    // The request head leaves with the first body chunk or with end(), so a delay or stall holds it too.
    req.on("end", () => toTarget.push(() => upstream.end()))
    upstream.on("socket", (socket: Socket) => socket.setNoDelay(true))
    upstream.on("error", fail)
    upstream.on("response", (from: IncomingMessage) => this.relayResponse(from, res, toClient, fail))
  }

  private relayResponse(from: IncomingMessage, to: ServerResponse, lane: Lane, fail: () => void): void {
    from.on("error", ignore)
    // Bytes already sent cannot be taken back: a response the target broke off breaks the client's too.
    from.on("close", () => {
      if (!from.complete) fail()
    })
    const status = from.statusCode ?? 502
    const headers = endToEnd(from.headers)
    const every = this.options.flushStreamsEveryMs
    if (every !== undefined && from.headers["content-type"]?.startsWith("text/event-stream") === true) {
      lane.push(() => to.writeHead(status, from.statusMessage, headers).flushHeaders())
      let held: Buffer[] = []
      const lump = () => {
        const chunk = Buffer.concat(held)
        held = []
        return chunk
      }
      const timer = setInterval(() => {
        if (held.length === 0) return
        const chunk = lump()
        lane.push(() => to.write(chunk))
      }, every)
      to.on("close", () => clearInterval(timer))
      from.on("data", (chunk: Buffer) => held.push(chunk))
      from.on("end", () => {
        clearInterval(timer)
        const chunk = lump()
        lane.push(() => to.end(chunk))
      })
      return
    }
    if (this.options.bufferStreams === true && isStream(from.headers)) {
      const chunks: Buffer[] = []
      from.on("data", (chunk: Buffer) => chunks.push(chunk))
      from.on("end", () =>
        lane.push(() => to.writeHead(status, from.statusMessage, headers).end(Buffer.concat(chunks))),
      )
      return
    }
    lane.push(() => {
      to.writeHead(status, from.statusMessage, headers)
      to.flushHeaders()
    })
    from.on("data", (chunk: Buffer) => lane.push(() => forward(from, to, chunk)))
    from.on("end", () => lane.push(() => to.end()))
  }

  private forwardUpgrade(req: IncomingMessage, client: Socket, head: Buffer): void {
    const block = this.options.blockUpgrades
    if (block) {
      this.counts.refusedUpgrades++
      if (block === "reset") abort(client)
      else client.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
      return
    }
    this.counts.upgrades++
    const upstream = connect(this.targetPort, "127.0.0.1")
    upstream.setNoDelay(true)
    const reset = () => abort(upstream)
    const resets = this.clients.get(client)
    resets?.add(reset)
    const toTarget = new Lane(this.gate)
    const toClient = new Lane(this.gate)
    let answered = false
    let open = 2
    const closed = () => {
      if (--open > 0) return
      resets?.delete(reset)
      toTarget.dispose()
      toClient.dispose()
    }

    toTarget.push(() => upstream.write(Buffer.concat([Buffer.from(upgradeHead(req), "latin1"), head])))
    client.on("data", (chunk: Buffer) => toTarget.push(() => forward(client, upstream, chunk)))
    upstream.on("data", (chunk: Buffer) => {
      answered = true
      toClient.push(() => forward(upstream, client, chunk))
    })
    // An end travels behind the bytes before it; an error cuts the other side at once.
    client.on("end", () => toTarget.push(() => upstream.end()))
    upstream.on("end", () => toClient.push(() => client.end()))
    client.on("error", reset)
    upstream.on("error", () => {
      if (answered) abort(client)
      else toClient.push(() => client.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
    })
    client.on("close", () => {
      toTarget.push(() => upstream.end())
      closed()
    })
    upstream.on("close", () => {
      toClient.push(() => client.end())
      closed()
    })
  }
}

/** What every {@link Lane} of one proxy shares: the stall switch, the delay, and the lanes themselves. */
export interface Gate {
  stalled: boolean
  delayMs: number
  readonly lanes: Set<Lane>
}

/**
 * One direction of one exchange: its forwarding steps run in order, each no earlier than `delayMs` after it
 * arrived and never while the proxy is stalled. With no delay, no stall and nothing queued, a step runs at once.
 */
export class Lane {
  private readonly steps: Array<{ due: number; run: () => void }> = []
  private timer: NodeJS.Timeout | undefined
  private disposed = false

  constructor(private readonly gate: Gate) {
    gate.lanes.add(this)
  }

  push(run: () => void): void {
    if (this.disposed) return
    const { stalled, delayMs } = this.gate
    if (!stalled && delayMs <= 0 && this.steps.length === 0) {
      run()
      return
    }
    this.steps.push({ due: performance.now() + Math.max(delayMs, 0), run })
    if (this.steps.length === 1) this.pump()
  }

  /** Runs the steps that are due, and sets a timer for the next one. */
  pump(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    while (!this.gate.stalled && !this.disposed) {
      const step = this.steps[0]
      if (step === undefined) return
      const wait = step.due - performance.now()
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(wait)).unref()
        return
      }
      this.steps.shift()
      step.run()
    }
  }

  dispose(): void {
    this.disposed = true
    clearTimeout(this.timer)
    this.steps.length = 0
    this.gate.lanes.delete(this)
  }
}

/** Headers that describe one hop, not the message; a proxy must not pass them on. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
])

/** The headers a proxy forwards: all but the hop-by-hop ones, including those the `Connection` header names. */
export function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    (headers.connection ?? "")
      .toLowerCase()
      .split(",")
      .map((name) => name.trim()),
  )
  const kept: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value
  }
  return kept
}

/** Whether a buffering proxy would hold this response: an event stream, or a body of unknown length. */
function isStream(headers: IncomingHttpHeaders): boolean {
  return headers["content-type"]?.startsWith("text/event-stream") === true || headers["content-length"] === undefined
}

/** The upgrade request as it came, to replay on the upstream socket (header values are Latin-1 in Node). */
export function upgradeHead(req: IncomingMessage): string {
  const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`]
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
  return `${lines.join("\r\n")}\r\n\r\n`
}

/** Writes a chunk on, pausing the source while the destination is full. */
export function forward(from: Readable, to: Writable, chunk: Buffer): void {
  if (to.write(chunk) || from.isPaused()) return
  from.pause()
  to.once("drain", () => from.resume())
}

/** Cuts a connection as a broken network does: with a TCP reset where the platform can send one. */
export function abort(socket: Socket | null | undefined): void {
  if (!socket || socket.destroyed) return
  if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy()
  else socket.destroy()
}

function ignore(): void {}
