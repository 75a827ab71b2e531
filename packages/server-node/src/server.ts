import { randomBytes } from "node:crypto"
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import {
  type Acceptor,
  type AnyContract,
  type ConnectionInfo,
  closeCodeOf,
  compileContract,
  control,
  decodeClientFrame,
  FrameType,
  type Link,
  PROTOCOL_VERSION,
  type ServerLinkEvents,
  type ServerOffer,
  type SessionLimits,
  type TransportId,
  type TypeOf,
  transportTraits,
} from "@switchyard/core"
import { ConnectionGate } from "./gate.ts"
import type { HandlerContext, Handlers } from "./handlers.ts"
import { defaultLimits, type ServerLimits, type ServerOptions } from "./options.ts"
import { PeerHub, type PeerOptions } from "./peers.ts"
import { type Runtime, ServerSession } from "./serverSession.ts"
import { TopicRegistry } from "./topics.ts"
import { HttpTransports } from "./transports/http.ts"
import { longPollingDownstream } from "./transports/longPolling.ts"
import { pollingDownstream } from "./transports/polling.ts"
import { sseDownstream } from "./transports/sse.ts"
import { refuse as refuseUpgrade, WebSocketTransport } from "./transports/websocket.ts"

/** Server-side publishers, one per topic of the contract: `server.topics.room("lobby").publish(msg)`. */
export type TopicPublishers<C extends AnyContract> = {
  readonly [K in keyof C["topics"]]: (key: string) => {
    /** Validates and fans out one message to every subscriber of this key. Throws `INVALID_INPUT`. */
    publish(message: TypeOf<C["topics"][K]["message"]>): void
    /** Sessions subscribed to this key on this server. */
    readonly subscribers: number
  }
}

/** A running Switchyard server. */
export interface Server<C extends AnyContract> {
  /**
   * Starts an HTTP server of its own. Port 0 picks a free port; the real one is returned.
   * @example const { port, url } = await server.listen(0, "127.0.0.1")
   */
  listen(port?: number, host?: string): Promise<{ readonly port: number; readonly url: string }>
  /** Serves the transports on an existing HTTP server, under `options.path`. */
  attach(httpServer: HttpServer): void
  /** Hands a connection to the session runtime; for custom and in-memory transports. */
  readonly accept: Acceptor
  readonly topics: TopicPublishers<C>
  /** Sessions held now, connected or waiting to be resumed. */
  readonly sessionCount: number
  /** Ends every session (clients see `SERVER_CLOSED` and reconnect), closes every connection. */
  close(): Promise<void>
}

/**
 * Creates a server for a contract.
 *
 * @example
 * const server = createServer(Chat, {
 *   rpc: { add: ({ a, b }) => a + b },
 *   streams: { countdown: async function* ({ from }) { for (let i = from; i >= 0; i--) yield i } },
 * }, { allowedOrigins: ["http://localhost:5173"] })
 * const { url } = await server.listen(3000)
 */
export function createServer<C extends AnyContract, A = undefined>(
  contract: C,
  handlers: Handlers<C, A>,
  options: ServerOptions<A> = {},
): Server<C> {
  const limits: ServerLimits = { ...defaultLimits, ...options.limits }
  const path = normalizePath(options.path ?? "/switchyard")
  const compiled = compileContract(contract)
  const h = handlers as { rpc?: object; streams?: object; topics?: object }
  const sessions = new Map<string, ServerSession>()
  const topics = new TopicRegistry(
    new Set([...compiled.topics.values()].filter((t) => t.delivery === "unreliable").map((t) => t.name)),
  )
  const reportError = options.onError ?? ((error: unknown) => console.error("[switchyard]", error))
  // A throwing hook must not take the server down nor leave the call it reports unanswered.
  const onError: Runtime["onError"] = (error, context) => {
    try {
      reportError(error, context)
    } catch (hookError) {
      console.error("[switchyard] onError threw", hookError)
    }
  }
  const hook = <T extends unknown[]>(fn: ((...args: T) => void) | undefined, ...args: T) => {
    if (!fn) return
    try {
      fn(...args)
    } catch (error) {
      onError(error, {})
    }
  }
  let closing = false
  let closed: Promise<void> | undefined

  const runtime: Runtime = {
    compiled,
    rpc: functionsOf(h.rpc, compiled.rpc.keys(), "rpc"),
    streams: functionsOf(h.streams, compiled.streams.keys(), "streams"),
    policies: new Map(Object.entries(h.topics ?? {})),
    limits,
    topics,
    onError,
    signalled: options.webrtc,
    accept: (link, info, signalledBy) => accept(link, info, signalledBy),
    peers: new PeerHub(compiled, options.peers as PeerOptions<unknown> | undefined, limits, onError),
    forget: (session, reason) => {
      if (sessions.get(session.token) !== session) return
      sessions.delete(session.token)
      hook(options.onSessionEnd, { id: session.id, auth: session.auth as A }, reason)
    },
  }
  const sessionLimits: SessionLimits = {
    maxMessageBytes: limits.maxMessageBytes,
    heartbeatIntervalMs: limits.heartbeatIntervalMs,
    heartbeatTimeoutMs: limits.heartbeatTimeoutMs,
    resumeWindowMs: limits.resumeWindowMs,
    maxDepth: limits.maxDepth,
  }

  const offered = offeredTransports(options.transports)
  // A signalled transport (WebRTC) is offered first: it is the top of the ladder, reached by upgrade.
  const signalled = options.webrtc
  const offer: ServerOffer = {
    version: PROTOCOL_VERSION,
    transports: [
      ...(signalled ? [{ ...signalled.offer, id: signalled.id }] : []),
      ...offered.map((id) => ({ id, ...transportTraits[id] })),
    ],
    limits: sessionLimits,
  }

  /**
   * `signalledBy`: for a link a signalled transport (WebRTC) set up, the token of the session that
   * signalled it. Such a link may carry only that session: it passed no origin check, connection bound
   * or `authenticate` of its own.
   */
  const accept = (link: Link, info: ConnectionInfo, signalledBy?: string): ServerLinkEvents => {
    let session: ServerSession | undefined
    let probes = 0
    const handshake = setTimeout(
      () => refuseLink(link, "HANDSHAKE_REQUIRED", "no HELLO in time"),
      limits.handshakeTimeoutMs,
    )
    handshake.unref()
    return {
      frame(data) {
        if (session) return session.receive(link, data)
        if (closing) {
          clearTimeout(handshake)
          return refuseLink(link, "SERVER_CLOSED", "the server is shutting down")
        }
        const decoded = decodeClientFrame(data, limits)
        // A client moving its session here first checks that the link carries frames both ways: each
        // PROBE is echoed, up to a few, and HELLO must still follow within the handshake timeout.
        if (decoded.ok && decoded.frame[0] === FrameType.PROBE && ++probes <= MAX_PROBES) {
          return link.send(control.probe(decoded.frame[1]))
        }
        clearTimeout(handshake)
        if (!decoded.ok || decoded.frame[0] !== FrameType.HELLO) {
          return refuseLink(link, "HANDSHAKE_REQUIRED", "the first frame must be HELLO")
        }
        const [, version, token, received] = decoded.frame
        if (version !== PROTOCOL_VERSION) {
          return refuseLink(
            link,
            "UNSUPPORTED_VERSION",
            `protocol ${version} is not supported; this server speaks ${PROTOCOL_VERSION}`,
          )
        }
        let target = token === null ? undefined : sessions.get(token)
        const resumed = target !== undefined && !target.isEnded
        if (signalledBy !== undefined && (token !== signalledBy || !resumed)) {
          return refuseLink(link, "HANDSHAKE_REQUIRED", "this link carries only the session that set it up")
        }
        if (!target || !resumed) {
          if (sessions.size >= limits.maxSessions)
            return refuseLink(link, "LIMIT_EXCEEDED", "the server holds too many sessions")
          target = new ServerSession(
            runtime,
            randomBytes(9).toString("base64url"),
            randomBytes(18).toString("base64url"),
            info.auth,
            randomBytes(16).toString("base64url"),
          )
          sessions.set(target.token, target)
          runtime.peers.join(target)
          hook(options.onSessionStart, { id: target.id, auth: info.auth as A })
        }
        const welcome = control.welcome(
          PROTOCOL_VERSION,
          target.token,
          target.id,
          resumed,
          target.received,
          sessionLimits,
          offer.transports,
          options.peers ? target.peerId : undefined,
        )
        if (!target.attach(link, info.transport, welcome, resumed ? received : 0)) {
          // The client's view of the session cannot be reconciled with ours: end it on both sides.
          target.end("SEQUENCE_GAP", "the client claims frames this session never sent")
          return refuseLink(link, "SEQUENCE_GAP", "the client claims frames this session never sent")
        }
        session = target
      },
      close() {
        clearTimeout(handshake)
        session?.linkClosed(link)
      },
      resume(received) {
        session?.resume(link, received)
      },
    }
  }

  const gate = new ConnectionGate(options as ServerOptions<unknown>, limits)
  const websocket = new WebSocketTransport(gate, accept, limits)
  const downstreams = [
    longPollingDownstream(limits.pollTimeoutMs),
    sseDownstream(
      limits.sseKeepAliveMs,
      limits.sseMaxStreamMs,
      limits.maxBufferedBytes,
      limits.maxUnreliableBufferedBytes,
    ),
    pollingDownstream(),
  ].filter((d) => offered.includes(d.id))
  const httpTransports = new HttpTransports(gate, accept, limits, downstreams, offer)
  /** Requests on our path go to the HTTP transports; a GET naming no transport is told to upgrade. */
  const onRequest = (request: IncomingMessage, response: ServerResponse): boolean => {
    const url = new URL(request.url ?? "/", "http://x")
    if (normalizePath(url.pathname) !== path) return false
    // While shutting down, only requests for an existing link still go through: a downstream GET collects
    // the session's BYE, a DELETE lets the server forget the link without waiting out the grace period,
    // and a POST is answered 410 (its session has ended). Nothing opens a new link.
    if (closing && !url.searchParams.has("link")) {
      answerPlainRequest(request, response, path, 503)
      return true
    }
    if (request.method === "GET" && !url.searchParams.has("transport") && !url.searchParams.has("negotiate")) {
      answerPlainRequest(request, response, path)
    } else httpTransports.handle(request, response, url.searchParams)
    return true
  }
  const restoreRequestListeners: Array<() => void> = []
  const attached: HttpServer[] = []
  let owned: HttpServer | undefined

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(request) !== path) return
    if (closing) return socket.destroy()
    if (!offered.includes("websocket")) {
      socket.on("error", () => socket.destroy())
      return refuseUpgrade(socket, 400, "UNKNOWN_TRANSPORT", "this server does not offer WebSocket")
    }
    websocket.handleUpgrade(request, socket, head)
  }
  // Only on a server of our own: an upgrade to another path has no other taker, so it gets a 404.
  const onForeignUpgrade = (request: IncomingMessage, socket: Duplex) => {
    if (pathOf(request) === path) return
    socket.on("error", () => socket.destroy())
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
  }

  const server: Server<C> = {
    accept,
    topics: topicPublishers(contract, compiled, topics),
    get sessionCount() {
      return sessions.size
    },
    attach(httpServer) {
      httpServer.on("upgrade", onUpgrade)
      attached.push(httpServer)
      // Requests on our path are ours; every other request goes to the listeners the server already had.
      const previous = httpServer.listeners("request") as Array<(q: IncomingMessage, r: ServerResponse) => void>
      httpServer.removeAllListeners("request")
      const listener = (request: IncomingMessage, response: ServerResponse) => {
        if (onRequest(request, response)) return
        for (const fn of previous) fn.call(httpServer, request, response)
      }
      httpServer.on("request", listener)
      restoreRequestListeners.push(() => {
        httpServer.off("request", listener)
        for (const fn of previous) httpServer.on("request", fn)
      })
    },
    async listen(port = 0, host) {
      if (owned) throw new Error("switchyard: listen() was already called")
      owned = createHttpServer((request, response) => answerPlainRequest(request, response, path, 404))
      owned.on("upgrade", onForeignUpgrade)
      server.attach(owned)
      const http = owned
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject)
        http.listen(port, host, () => resolve())
      })
      const address = http.address() as AddressInfo
      const shownHost = host === undefined || host === "0.0.0.0" || host === "::" ? "localhost" : host
      return { port: address.port, url: `http://${shownHost}:${address.port}${path}` }
    },
    close() {
      closed ??= shutdown()
      return closed
    },
  }

  async function shutdown(): Promise<void> {
    // Stop taking connections first, so that clients reconnecting during shutdown are refused.
    closing = true
    for (const session of [...sessions.values()]) session.end("SERVER_CLOSED", "the server is shutting down")
    httpTransports.close()
    // Sockets close their handshakes and HTTP links hand over their last frames, within one grace period;
    // only then does the server stop listening.
    await Promise.all([websocket.close(), httpTransports.drained(1000), options.webrtc?.close()])
    const http = owned
    const stopped = http ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve()
    for (const attachedServer of attached) attachedServer.off("upgrade", onUpgrade)
    for (const restore of restoreRequestListeners) restore()
    http?.off("upgrade", onForeignUpgrade)
    http?.closeAllConnections()
    await stopped
  }
  return server
}

/** The transports a server runs when its options do not say. */
const serverTransportIds: readonly TransportId[] = ["websocket", "sse", "long-polling", "polling"]

function offeredTransports(ids: readonly TransportId[] | undefined): readonly TransportId[] {
  if (ids === undefined) return serverTransportIds
  for (const id of ids) {
    if (!serverTransportIds.includes(id)) {
      throw new TypeError(`switchyard: this server cannot offer transport ${JSON.stringify(id)}`)
    }
  }
  if (ids.length === 0) throw new TypeError("switchyard: a server must offer at least one transport")
  return [...new Set(ids)]
}

/** PROBE frames a link may carry before its HELLO. */
const MAX_PROBES = 4

function refuseLink(link: Link, code: Parameters<typeof closeCodeOf>[0], message: string): void {
  link.send(control.bye(code, message))
  link.close(closeCodeOf(code), code)
}

function functionsOf(
  section: object | undefined,
  names: Iterable<string>,
  label: string,
): ReadonlyMap<string, (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown> {
  const out = new Map<string, (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown>()
  for (const name of names) {
    const fn = (section as Record<string, unknown> | undefined)?.[name]
    if (typeof fn !== "function") throw new TypeError(`switchyard: missing handler ${label}.${name}`)
    out.set(name, fn as (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown)
  }
  return out
}

function topicPublishers<C extends AnyContract>(
  contract: C,
  compiled: ReturnType<typeof compileContract>,
  topics: TopicRegistry,
): TopicPublishers<C> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(contract.topics)) {
    const channel = compiled.topics.get(name)
    if (!channel) continue
    out[name] = (key: string) => ({
      publish: (message: unknown) => topics.publish(channel, key, message),
      get subscribers() {
        return topics.count(name, key)
      },
    })
  }
  return out as TopicPublishers<C>
}

function normalizePath(path: string): string {
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
function answerPlainRequest(request: IncomingMessage, response: ServerResponse, path: string, status?: number): void {
  const code = status ?? (pathOf(request) === path ? 426 : 404)
  const body =
    code === 426
      ? { code: "UPGRADE_REQUIRED", message: "connect with a WebSocket, or name an HTTP transport" }
      : code === 503
        ? { code: "SERVER_CLOSED", message: "the server is shutting down" }
        : { code: "NOT_FOUND", message: "not found" }
  const text = JSON.stringify(body)
  response.writeHead(code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...(code === 426 ? { upgrade: "websocket", connection: "Upgrade" } : {}),
  })
  response.end(text)
}
