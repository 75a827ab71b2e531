import type { IncomingMessage, ServerResponse } from "node:http"
import { httpBodyCap } from "@switchyard/core"
import type { Json, NodeMessage } from "./broker/nodeBus.ts"
import type { SessionCluster } from "./cluster.ts"
import { type BodyBounds, readBody } from "./httpBodies.ts"
import { IncompleteBytes } from "./incompleteBytes.ts"
import type { ServerLimits } from "./limits.ts"
import { RelayedRequest, RelayedResponse } from "./relayedRequest.ts"
import type { RunningTransport } from "./transport.ts"

/** How a node serves a request of one of its own links: the transports' `request()`, as for any request. */
export type ServeLocal = (request: IncomingMessage, response: ServerResponse, query: URLSearchParams) => void

/** The request headers a transport reads once a link is open; nothing else goes over the bus. */
const RELAYED_HEADERS = ["last-event-id", "content-type", "content-length"] as const

/**
 * The HTTP relay (docs/scaling.md#relayed-requests): a request of an HTTP link (SSE, long polling,
 * polling) names the link, and a link id starts with the id of the node that holds it. A request that
 * lands on another node is carried there over the node bus (method, query, the headers a transport
 * reads, body) and answered back (status, headers, body chunks, an SSE stream included); when the client
 * goes away the owner's request sees its `close`. The transports are unchanged: the owner serves the
 * relayed request through the same `request()` path, with a request and a response that carry the bytes
 * over the bus. Placed first among the request takers, it claims only requests of other live nodes' links.
 */
export class HttpRelay implements RunningTransport {
  private rid = 0
  /** Requests this node relayed, by id: the client's response waits for the owner's answer. */
  private readonly outgoing = new Map<number, Outgoing>()
  /** Relayed requests this node serves, by sender and id. */
  private readonly incoming = new Map<string, RelayedRequest>()
  private readonly bodies: BodyBounds

  constructor(
    private readonly cluster: SessionCluster,
    private readonly limits: RelayLimits,
    private readonly serveLocal: ServeLocal,
    incompleteBytes: IncompleteBytes = new IncompleteBytes(limits),
  ) {
    // The body is read here, within the same bounds as on the link's node (docs/limits.md).
    this.bodies = {
      maxBodyBytes: httpBodyCap(limits.maxMessageBytes),
      readTimeoutMs: limits.readTimeoutMs,
      incomplete: incompleteBytes,
    }
    cluster.use(
      (from, message) => this.receive(from, message),
      (node) => this.gone(node),
      () => this.closeAll(),
    )
  }

  /** Relayed requests this node serves for others now. */
  get servingCount(): number {
    return this.incoming.size
  }

  request(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): boolean {
    const link = query.get("link")
    const dot = link === null ? -1 : link.indexOf(".")
    if (link === null || dot <= 0) return false
    const node = link.slice(0, dot)
    // A link of this node, or of a node gone: the transports answer (a gone node's link is unknown here).
    if (node === this.cluster.nodeId || !this.cluster.nodes.alive(node)) return false
    void this.relay(request, response, query, node)
    return true
  }

  private async relay(request: IncomingMessage, response: ServerResponse, query: URLSearchParams, node: string) {
    const body = await readBody(request, response, this.bodies)
    if (body === undefined) return
    const rid = ++this.rid
    // No first reply in time (the owner is stuck, or the message was lost): the link is answered here as
    // one that is gone, and the client opens a new one (its session moves on its next HELLO).
    const timer = setTimeout(() => {
      if (this.outgoing.get(rid) !== outgoing) return
      this.outgoing.delete(rid)
      this.cluster.nodes.send(node, { t: "http-abort", rid })
      this.serveLocal(request, response, query)
    }, this.limits.takeOverTimeoutMs)
    timer.unref()
    const outgoing: Outgoing = { node, request, response, query, timer }
    this.outgoing.set(rid, outgoing)
    const headers: Record<string, string> = {}
    for (const name of RELAYED_HEADERS) {
      const value = request.headers[name]
      if (typeof value === "string") headers[name] = value
    }
    response.once("close", () => {
      clearTimeout(timer)
      if (this.outgoing.get(rid) !== outgoing) return
      this.outgoing.delete(rid)
      this.cluster.nodes.send(node, { t: "http-abort", rid })
    })
    this.cluster.nodes.send(node, {
      t: "http",
      rid,
      method: request.method ?? "GET",
      url: request.url ?? "/",
      headers,
      body,
    })
  }

  private receive(from: string, m: NodeMessage): boolean {
    switch (m.t) {
      case "http":
        this.serve(from, m)
        return true
      case "http-abort":
        this.abortIncoming(`${from}\u0000${m.rid}`)
        return true
      case "http-ack":
      case "http-head":
      case "http-chunk":
      case "http-end": {
        const outgoing = this.outgoing.get(m.rid as number)
        if (!outgoing || outgoing.node !== from) return true
        clearTimeout(outgoing.timer)
        const { response } = outgoing
        if (m.t === "http-ack") return true
        if (m.t === "http-head") response.writeHead(m.status as number, m.headers as Record<string, string>)
        else if (m.t === "http-chunk") {
          response.write(m.data as string)
          // A client that stops reading (an SSE stream): the bytes pile up here, not on the link's node,
          // whose relayed response buffers nothing. Past the limit the request is cut and the owner told,
          // as when the client goes away; the client reconnects and resumes.
          if (response.writableLength > this.limits.maxBufferedBytes) {
            this.outgoing.delete(m.rid as number)
            this.cluster.nodes.send(from, { t: "http-abort", rid: m.rid as number })
            response.destroy()
          }
        } else {
          this.outgoing.delete(m.rid as number)
          response.end(m.data as string)
        }
        return true
      }
    }
    return false
  }

  /** A request relayed here: served through the transports as if it had come in directly. */
  private serve(from: string, m: NodeMessage): void {
    const name = `${from}\u0000${m.rid}`
    const rid = m.rid as number
    const send = (message: NodeMessage) => this.cluster.nodes.send(from, message)
    // The first reply, at once: a transport may hold the answer (a long poll), the relaying node must not
    // take that for a lost request.
    send({ t: "http-ack", rid })
    const request = new RelayedRequest(
      m.method as string,
      m.url as string,
      m.headers as Record<string, string>,
      m.body as string,
    )
    const response = new RelayedResponse({
      head: (status, headers) => send({ t: "http-head", rid, status, headers: headers as { [k: string]: Json } }),
      chunk: (data) => send({ t: "http-chunk", rid, data }),
      end: (data) => {
        this.incoming.delete(name)
        send({ t: "http-end", rid, data })
      },
    })
    request.response = response
    this.incoming.set(name, request)
    const url = new URL(request.url, "http://x")
    this.serveLocal(request as unknown as IncomingMessage, response as unknown as ServerResponse, url.searchParams)
  }

  /** A node is gone: requests relayed to it are answered here (their link is gone); its own are dropped. */
  private gone(node: string): void {
    for (const [rid, outgoing] of [...this.outgoing]) {
      if (outgoing.node !== node) continue
      clearTimeout(outgoing.timer)
      this.outgoing.delete(rid)
      if (outgoing.response.headersSent) outgoing.response.end()
      else this.serveLocal(outgoing.request, outgoing.response, outgoing.query)
    }
    for (const name of [...this.incoming.keys()]) if (name.startsWith(`${node}\u0000`)) this.abortIncoming(name)
  }

  /**
   * The client of a relayed request went away: forgotten here at once, as an aborted response is
   * finished and its later `end()` (which would have forgotten it) sends nothing.
   */
  private abortIncoming(name: string): void {
    const request = this.incoming.get(name)
    if (!request) return
    this.incoming.delete(name)
    request.abort()
  }

  /** Nothing to do when the transports close: the relay stops with the cluster (`closeAll`). */
  async close(): Promise<void> {}

  /** The node leaves: what it relays is cut (the clients retry), what it serves for others is ended. */
  private closeAll(): void {
    for (const outgoing of this.outgoing.values()) {
      clearTimeout(outgoing.timer)
      outgoing.response.destroy()
    }
    this.outgoing.clear()
    for (const name of [...this.incoming.keys()]) this.abortIncoming(name)
  }
}

/**
 * What the relay is bounded by: the body it carries (`maxMessageBytes`, `readTimeoutMs`, and the bytes
 * being received from one address and in all, shared with the transports), what it buffers for a client
 * that does not read (`maxBufferedBytes`, as a direct SSE stream), and how long it waits for the owner's
 * first reply to a request (`takeOverTimeoutMs`, the bound on any answer from another node).
 */
export type RelayLimits = Pick<
  ServerLimits,
  | "maxMessageBytes"
  | "maxBufferedBytes"
  | "takeOverTimeoutMs"
  | "readTimeoutMs"
  | "maxIncompleteBytesPerIp"
  | "maxIncompleteBytes"
  | "ipv6PrefixBits"
>

interface Outgoing {
  readonly timer: ReturnType<typeof setTimeout>
  readonly node: string
  readonly request: IncomingMessage
  readonly response: ServerResponse
  readonly query: URLSearchParams
}
