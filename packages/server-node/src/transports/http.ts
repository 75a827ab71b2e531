import { randomBytes } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import {
  type Acceptor,
  control,
  FrameType,
  LatestFrames,
  type Link,
  type ServerLinkEvents,
  type ServerOffer,
  type TransportId,
} from "@switchyard/core"
import type { ConnectionGate } from "../gate.ts"
import type { ServerLimits } from "../options.ts"

/**
 * The part the three HTTP transports share: a link is a virtual connection named by an unguessable id
 * and carried by many requests (docs/http-transports.md). This file opens links, takes upstream frames,
 * closes links and answers CORS; each transport file only says how frames go downstream.
 */

/** A sequence number in a query string: digits only, within the safe integers. */
const SEQUENCE = /^\d{1,15}$/

/** How one HTTP transport carries frames downstream. */
export interface Downstream {
  readonly id: TransportId
  /** A downstream GET for `link`. */
  get(link: HttpLink, request: IncomingMessage, response: ServerResponse): void
  /** The link has frames to deliver (called once per tick at most). */
  ready(link: HttpLink): void
  /** The link closed: settle any held response. */
  closed(link: HttpLink): void
  /**
   * A downstream GET for a closed link that still had frames queued (a BYE nobody had collected yet):
   * deliver them and tell the client the link is over. Default: the frames as a batch body.
   */
  drained?(frames: string, response: ServerResponse): void
  /** Answers a downstream GET for an unknown or closed link, when 410 would not do (SSE). */
  gone?(response: ServerResponse): void
}

/** One link: frames the session sent and the transport has not delivered yet, plus transport state. */
export class HttpLink implements Link {
  readonly id = randomBytes(16).toString("base64url")
  /** Frames waiting to go downstream, oldest first. */
  queue: string[] = []
  /**
   * Unreliable frames waiting, at most one per slot (docs/delivery.md): a poll takes the latest of each,
   * and an SSE stream writes them when its response is not backed up.
   */
  readonly latest = new LatestFrames()
  /** Whatever the transport holds for this link (a held poll, an open event stream). */
  held: { response: ServerResponse; timer: ReturnType<typeof setTimeout> | undefined } | undefined
  events: ServerLinkEvents | undefined
  isClosed = false
  /** The highest `ack` a downstream request carried. */
  acked = 0
  /** Set while a closed link lingers for its last frames: removes it from the server's links. */
  forget: (() => void) | undefined
  private scheduled = false

  constructor(
    readonly transport: Downstream,
    private readonly onClose: (link: HttpLink, code: number, reason: string) => void,
  ) {}

  send(frame: string): void {
    if (this.isClosed) return
    this.queue.push(frame)
    this.schedule()
  }

  sendLatest(slot: object, frame: string): void {
    if (this.isClosed) return
    this.latest.put(slot, frame)
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled) return
    // Frames of one tick leave together.
    this.scheduled = true
    process.nextTick(() => {
      this.scheduled = false
      this.transport.ready(this)
    })
  }

  /** Whether anything waits to go downstream. */
  get pending(): boolean {
    return this.queue.length > 0 || this.latest.size > 0
  }

  /**
   * Takes every queued frame and the latest unreliable frame of each slot, as one batch body. The
   * unreliable frames go first (after a WELCOME, which the client must read before anything), so that the
   * last item of an unreliable stream comes before its END.
   */
  drain(): string {
    if (this.latest.size > 0) {
      const unreliable: string[] = []
      this.latest.flush((frame) => unreliable.push(frame))
      const head = this.queue[0]?.startsWith(WELCOME_PREFIX) ? 1 : 0
      this.queue.splice(head, 0, ...unreliable)
    }
    const body = this.queue.join("\n")
    this.queue = []
    return body
  }

  close(code: number, reason: string): void {
    this.end(code, reason)
  }

  /** Ends the link once; frames already queued are still delivered to a poll that comes for them. */
  end(code: number, reason: string): void {
    if (this.isClosed) return
    this.isClosed = true
    // Unreliable frames are never delivered late: a link that closes drops them.
    this.latest.clear()
    this.transport.closed(this)
    this.onClose(this, code, reason)
  }
}

const WELCOME_PREFIX = `[${FrameType.WELCOME},`

/** Answers a request with a small JSON body (errors) or nothing. */
export function answer(response: ServerResponse, status: number, body?: object): void {
  if (response.headersSent) return void response.end()
  const text = body === undefined ? "" : JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  })
  response.end(text)
}

/** Answers with a batch of frames. */
export function answerFrames(response: ServerResponse, body: string): void {
  response.writeHead(200, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  })
  response.end(body)
}

/** The HTTP entry point of the server's path: routes each request to the right link and transport. */
export class HttpTransports {
  private readonly links = new Map<string, HttpLink>()
  private readonly downstreams = new Map<string, Downstream>()
  private readonly maxBodyBytes: number

  constructor(
    private readonly gate: ConnectionGate,
    private readonly accept: Acceptor,
    limits: ServerLimits,
    downstreams: readonly Downstream[],
    private readonly offer: ServerOffer,
  ) {
    for (const d of downstreams) this.downstreams.set(d.id, d)
    // Up to what a client batches before it knows our limits (as for the WebSocket cap): a single request
    // over `maxMessageBytes` inside is answered for its id, and the body is never refused for it.
    this.maxBodyBytes = Math.max(limits.maxMessageBytes, 1024 * 1024) + 64 * 1024
  }

  get linkCount(): number {
    return this.links.size
  }

  handle(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): void {
    response.on("error", () => {})
    if (!this.gate.originAllowed(request)) {
      return answer(response, 403, { code: "ORIGIN_FORBIDDEN", message: "origin not allowed" })
    }
    this.cors(request, response)
    const linkId = query.get("link")
    switch (request.method) {
      case "OPTIONS":
        return answer(response, 204)
      case "POST":
        return linkId === null
          ? void this.open(request, response, query.get("transport"))
          : this.upstream(request, response, linkId)
      case "GET": {
        // The offer (docs/negotiation.md): what a client needs to plan, and no state on the server.
        if (linkId === null && query.has("negotiate")) return answer(response, 200, this.offer)
        const link = linkId === null ? undefined : this.links.get(linkId)
        if (!link || link.transport.id !== query.get("transport")) {
          const downstream = this.downstreams.get(query.get("transport") ?? "")
          return downstream?.gone ? downstream.gone(response) : answer(response, 410, gone)
        }
        // The acknowledgement first: one of frames never sent ends the session, and this request then
        // collects its BYE like any request for a closed link.
        const ack = query.get("ack")
        if (ack !== null && !link.isClosed && !this.acknowledge(link, ack)) {
          return answer(response, 400, { code: "INVALID_FRAME", message: "ack must be a sequence number" })
        }
        if (link.isClosed) {
          // A closed link that lingers for its last frames: hand them over, then forget the link.
          const frames = link.drain()
          link.forget?.()
          return link.transport.drained ? link.transport.drained(frames, response) : answerFrames(response, frames)
        }
        return link.transport.get(link, request, response)
      }
      case "DELETE": {
        const link = linkId === null ? undefined : this.links.get(linkId)
        if (!link) return answer(response, 410, gone)
        link.end(1000, "CLIENT_CLOSED")
        link.forget?.()
        return answer(response, 204)
      }
      default:
        response.setHeader("allow", "GET, POST, DELETE, OPTIONS")
        return answer(response, 405, { code: "METHOD_NOT_ALLOWED", message: "use GET, POST or DELETE" })
    }
  }

  /** Closes every link (server shutdown). */
  close(): void {
    for (const link of [...this.links.values()]) link.end(1001, "SERVER_CLOSED")
  }

  /** Resolves once no closed link is waiting for its last frames to be collected, or after `graceMs`. */
  async drained(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs
    while (this.links.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  }

  private async open(request: IncomingMessage, response: ServerResponse, transportId: string | null): Promise<void> {
    const downstream = transportId === null ? undefined : this.downstreams.get(transportId)
    if (!downstream) return answer(response, 400, { code: "UNKNOWN_TRANSPORT", message: "no such transport" })
    const body = await this.readBody(request, response)
    if (body === undefined) return
    const admission = await this.gate.admit(request)
    if (!admission.ok) return answer(response, admission.status, { code: admission.code, message: admission.message })
    const forget = (closed: HttpLink) => {
      if (this.links.get(closed.id) !== closed) return
      this.links.delete(closed.id)
      admission.release()
    }
    const link = new HttpLink(downstream, (closed, code, reason) => {
      closed.events?.close(code, reason)
      if (closed.queue.length === 0) return forget(closed)
      // Frames queued with the close (a BYE) wait for the next downstream request, for a while.
      closed.forget = () => forget(closed)
      setTimeout(closed.forget, LINGER_MS).unref()
    })
    this.links.set(link.id, link)
    link.events = this.accept(link, {
      transport: downstream.id,
      remoteAddress: request.socket.remoteAddress,
      auth: admission.auth,
    })
    answer(response, 200, { link: link.id })
    this.feed(link, body)
  }

  private upstream(request: IncomingMessage, response: ServerResponse, linkId: string): void {
    const link = this.links.get(linkId)
    if (!link) return answer(response, 410, gone)
    void this.readBody(request, response).then((body) => {
      if (body === undefined) return
      if (link.isClosed) return answer(response, 410, gone)
      answer(response, 204)
      this.feed(link, body)
    })
  }

  /**
   * A downstream request's `ack` (long polling, polling): the client's cumulative acknowledgement, handed
   * to the session as the ACK frame it stands for, once per new value. False when it is not a number.
   */
  private acknowledge(link: HttpLink, ack: string): boolean {
    if (!SEQUENCE.test(ack)) return false
    const received = Number(ack)
    if (received > link.acked) {
      link.acked = received
      link.events?.frame(control.ack(received))
    }
    return true
  }

  /** Hands each frame of a batch to the session runtime, in order. */
  private feed(link: HttpLink, body: string): void {
    let start = 0
    while (start < body.length && !link.isClosed) {
      let end = body.indexOf("\n", start)
      if (end === -1) end = body.length
      if (end > start) link.events?.frame(body.slice(start, end))
      start = end + 1
    }
  }

  /** Reads a request body up to the bound; answers 413 past it (without reading the rest). */
  private readBody(request: IncomingMessage, response: ServerResponse): Promise<string | undefined> {
    const declared = Number(request.headers["content-length"] ?? 0)
    if (declared > this.maxBodyBytes) {
      answer(response, 413, { code: "MESSAGE_TOO_LARGE", message: `bodies are limited to ${this.maxBodyBytes} bytes` })
      request.resume()
      return Promise.resolve(undefined)
    }
    return new Promise((resolve) => {
      const chunks: Buffer[] = []
      let size = 0
      request.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size > this.maxBodyBytes) {
          answer(response, 413, {
            code: "MESSAGE_TOO_LARGE",
            message: `bodies are limited to ${this.maxBodyBytes} bytes`,
          })
          request.destroy()
          return resolve(undefined)
        }
        chunks.push(chunk)
      })
      request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      request.on("error", () => resolve(undefined))
    })
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
      response.setHeader("access-control-allow-headers", "content-type")
      response.setHeader("access-control-max-age", "600")
    }
  }
}

const gone = { code: "LINK_GONE", message: "this link is closed or unknown; open a new one" }

/** How long a closed link keeps frames nobody has collected yet (ms). */
const LINGER_MS = 10_000
