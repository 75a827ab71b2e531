import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http"
import { type AddressInfo, isIPv6 } from "node:net"
import type { Duplex } from "node:stream"
import { type HttpErrorCode, httpStatusOf, type ServerOffer } from "@switchyard/core"
import type { ConnectionGate } from "./gate.ts"
import { answer, refuseGoneLink, refuseUnread, refuseUpgrade } from "./httpAnswers.ts"
import { defaultListenOptions, type ListenOptions, TIMEOUT_CHECK_INTERVAL_MS } from "./limits.ts"
import type { RunningTransport } from "./transport.ts"

/**
 * The server's HTTP surface: requests and upgrades on its path go to the transports that claim them
 * (after the Origin check and CORS, which every HTTP transport shares); a GET naming no transport is
 * told to upgrade, `?negotiate` gets the offer (docs/negotiation.md), everything else off the path goes
 * to the listeners the HTTP server already had.
 */
export class HttpRouting {
  /** Set when the server starts shutting down: nothing opens a new link from then on. */
  closing = false
  private readonly requestTakers: readonly RunningTransport[]
  private readonly upgradeTakers: readonly RunningTransport[]
  private readonly restoreRequestListeners: Array<() => void> = []
  private readonly attached: HttpServer[] = []
  private owned: HttpServer | undefined
  private stopped: Promise<void> | undefined

  constructor(
    private readonly path: string,
    private readonly gate: ConnectionGate,
    transports: readonly RunningTransport[],
    private readonly offer: ServerOffer,
  ) {
    this.requestTakers = transports.filter((t) => t.request !== undefined)
    this.upgradeTakers = transports.filter((t) => t.upgrade !== undefined)
  }

  /** Serves the transports on `httpServer`, under the path. */
  attach(httpServer: HttpServer): void {
    httpServer.on("upgrade", this.onUpgrade)
    this.attached.push(httpServer)
    // Requests on our path are ours; every other request goes to the listeners the server already had.
    const previous = httpServer.listeners("request") as Array<(q: IncomingMessage, r: ServerResponse) => void>
    httpServer.removeAllListeners("request")
    const listener = (request: IncomingMessage, response: ServerResponse) => {
      if (this.onRequest(request, response)) return
      for (const fn of previous) fn.call(httpServer, request, response)
    }
    httpServer.on("request", listener)
    this.restoreRequestListeners.push(() => {
      httpServer.off("request", listener)
      for (const fn of previous) httpServer.on("request", fn)
    })
  }

  /** Starts an HTTP server of its own, with the timeouts of `options`, and attaches to it. */
  async listen(
    port: number,
    host: string | undefined,
    options: ListenOptions = {},
  ): Promise<{ readonly port: number; readonly url: string }> {
    if (this.owned) throw new Error("switchyard: listen() was already called")
    if (this.closing) throw new Error("switchyard: the server is closed")
    const timeouts = { ...defaultListenOptions, ...options }
    const http = createHttpServer(
      {
        headersTimeout: timeouts.headersTimeoutMs,
        // Node requires a request timeout of at least the headers timeout (0 turns it off).
        requestTimeout:
          timeouts.requestTimeoutMs === 0 ? 0 : Math.max(timeouts.requestTimeoutMs, timeouts.headersTimeoutMs),
        keepAliveTimeout: timeouts.keepAliveTimeoutMs,
        // Node checks both timeouts every 30 s by default, so that a 10 s bound would end a slow request
        // after up to 40 s.
        connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      },
      (request, response) => answerPlainRequest(request, response, this.path, "NOT_FOUND"),
    )
    this.owned = http
    http.on("upgrade", this.onForeignUpgrade)
    this.attach(http)
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject)
      // The server's close() came first (while the host was looked up): listen() rejects, and a bind
      // that still follows is undone, so that no port is held after close() returned.
      const closedFirst = () => reject(new Error("switchyard: the server closed before it listened"))
      http.once("close", closedFirst)
      http.listen(port, host, () => {
        http.off("close", closedFirst)
        if (!this.closing) return resolve()
        http.close()
        closedFirst()
      })
    })
    const address = http.address() as AddressInfo
    return { port: address.port, url: `http://${urlHost(host)}:${address.port}${this.path}` }
  }

  /**
   * The HTTP server of its own (`listen()`) takes no new connection from now on; those open go on. A
   * node of a cluster that hands its sessions over calls it first, so that a balancer deals every new
   * connection to the other nodes at once (refused, it tries the next) instead of to a node that would
   * only turn it away.
   */
  stopListening(): Promise<void> {
    const http = this.owned
    this.stopped ??= http ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve()
    return this.stopped
  }

  /** Lets go of every HTTP server: the one of its own stops listening, the others get their listeners back. */
  async detach(): Promise<void> {
    const http = this.owned
    const stopped = this.stopListening()
    for (const attachedServer of this.attached) attachedServer.off("upgrade", this.onUpgrade)
    for (const restore of this.restoreRequestListeners) restore()
    http?.off("upgrade", this.onForeignUpgrade)
    http?.closeAllConnections()
    await stopped
  }

  /** Requests on our path; false for any other. */
  private onRequest(request: IncomingMessage, response: ServerResponse): boolean {
    const url = new URL(request.url ?? "/", "http://x")
    if (normalizePath(url.pathname) !== this.path) return false
    // While shutting down, only requests for an existing link still go through: a downstream GET collects
    // the session's BYE, a DELETE lets the server forget the link without waiting out the grace period,
    // and a POST is answered 410 (its session has ended). Nothing opens a new link.
    if (this.closing && !url.searchParams.has("link")) {
      answerPlainRequest(request, response, this.path, "SERVER_CLOSED")
      return true
    }
    if (request.method === "GET" && !url.searchParams.has("transport") && !url.searchParams.has("negotiate")) {
      answerPlainRequest(request, response, this.path)
    } else this.route(request, response, url.searchParams)
    return true
  }

  private route(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): void {
    response.on("error", ignore)
    // Refusals drop a body still coming and close its connection rather than reading it to its end.
    if (!this.gate.originAllowed(request)) {
      return refuseUnread(request, response, "ORIGIN_FORBIDDEN", "origin not allowed")
    }
    this.cors(request, response)
    const method = request.method
    if (method === "OPTIONS") return answer(response, 204)
    if (method !== "GET" && method !== "POST" && method !== "DELETE") {
      response.setHeader("allow", "GET, POST, DELETE, OPTIONS")
      return refuseUnread(request, response, "METHOD_NOT_ALLOWED", "use GET, POST or DELETE")
    }
    // The offer: what a client needs to plan, and no state on the server.
    if (method === "GET" && !query.has("link") && query.has("negotiate")) return answer(response, 200, this.offer)
    for (const transport of this.requestTakers) {
      if (transport.request?.(request, response, query)) return
    }
    if (method === "POST" && !query.has("link")) {
      return refuseUnread(request, response, "UNKNOWN_TRANSPORT", "no such transport")
    }
    refuseGoneLink(response, request)
  }

  /** Lets an allowed cross-origin page read the answers; never `*`. */
  private cors(request: IncomingMessage, response: ServerResponse): void {
    const origin = request.headers.origin
    if (origin === undefined) return
    response.setHeader("access-control-allow-origin", origin)
    // With `allowedOrigins: "*"` any origin is reflected, so credentials are never allowed there.
    if (this.gate.credentialsAllowed) response.setHeader("access-control-allow-credentials", "true")
    response.setHeader("vary", "Origin")
    if (request.method === "OPTIONS") {
      response.setHeader("access-control-allow-methods", "GET, POST, DELETE, OPTIONS")
      response.setHeader("access-control-allow-headers", "content-type, authorization")
      response.setHeader("access-control-max-age", "600")
    }
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(request) !== this.path) return
    if (this.closing) return void socket.destroy()
    for (const transport of this.upgradeTakers) {
      if (transport.upgrade?.(request, socket, head)) return
    }
    socket.on("error", () => socket.destroy())
    refuseUpgrade(socket, "UNKNOWN_TRANSPORT", "this server does not offer WebSocket")
  }

  // Only on a server of our own: an upgrade to another path has no other taker, so it gets a 404.
  private readonly onForeignUpgrade = (request: IncomingMessage, socket: Duplex): void => {
    if (pathOf(request) === this.path) return
    socket.on("error", () => socket.destroy())
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
  }
}

/** The host of `listen()`'s URL: `localhost` for every interface, an IPv6 address in brackets. */
function urlHost(host: string | undefined): string {
  if (host === undefined || host === "" || host === "0.0.0.0" || host === "::") return "localhost"
  return isIPv6(host) ? `[${host}]` : host
}

/** `"/switchyard/"` and `"switchyard"` both become `"/switchyard"`. */
export function normalizePath(path: string): string {
  const p = path.startsWith("/") ? path : `/${path}`
  return p.length > 1 ? p.replace(/\/+$/, "") : p
}

function pathOf(request: IncomingMessage): string {
  const url = request.url ?? "/"
  const q = url.indexOf("?")
  return normalizePath(q === -1 ? url : url.slice(0, q))
}

/**
 * Plain HTTP answers: 426 for a GET on the transport path that names no transport, 404 elsewhere on a
 * server made by `listen`, 503 while shutting down.
 */
const plainAnswers = {
  UPGRADE_REQUIRED: "connect with a WebSocket, or name an HTTP transport",
  SERVER_CLOSED: "the server is shutting down",
  NOT_FOUND: "not found",
} as const satisfies Partial<Record<HttpErrorCode, string>>

function answerPlainRequest(
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  refusal?: "NOT_FOUND" | "SERVER_CLOSED",
): void {
  const code: keyof typeof plainAnswers = refusal ?? (pathOf(request) === path ? "UPGRADE_REQUIRED" : "NOT_FOUND")
  const text = JSON.stringify({ code, message: plainAnswers[code] })
  response.writeHead(httpStatusOf(code), {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    // A Connection header of our own replaces Node's: it must still say `close` when the request did
    // (HTTP/1.0, as nginx's default proxy_pass sends), or the socket stays open for a proxy to reuse, and
    // Node's parser answers the next request on it with 400.
    ...(code === "UPGRADE_REQUIRED"
      ? { upgrade: "websocket", connection: response.shouldKeepAlive ? "Upgrade" : "Upgrade, close" }
      : {}),
  })
  response.end(text)
}

/** A response's errors are its socket's, handled there; one listener for all (no closure per request). */
function ignore(): void {}
