import type { IncomingMessage, ServerResponse } from "node:http"
import { control, httpBodyCap, type TransportId, type TransportOffer } from "@switchyard/core"
import { answer, answerFrames, refuse, refuseGoneLink } from "../httpAnswers.ts"
import type { ServerLimits } from "../limits.ts"
import type { RunningTransport, ServerTransport, TransportHost } from "../transport.ts"
import { type Downstream, HttpLink } from "./httpLink.ts"

/**
 * The part the HTTP transports share (docs/http-transports.md): a POST naming the transport opens a link,
 * a POST naming the link carries frames up, a GET naming both takes frames down, a DELETE closes the
 * link. The server's HTTP routing (`httpRouting.ts`) has already checked the path, the Origin and CORS;
 * each transport file only says how frames go downstream, as a `Downstream`.
 *
 * @example
 * export const pollingServer = () => httpTransport("polling", { duplex: false, binary: false, ordered: true }, () => pollingDownstream())
 */
export function httpTransport(
  id: TransportId,
  offer: Omit<TransportOffer, "id">,
  downstream: (limits: ServerLimits) => Downstream,
): ServerTransport {
  return { id, offer, reach: "request", start: (host) => new HttpLinks(id, host, downstream(host.limits)) }
}

/** A sequence number in a query string: digits only, within the safe integers. */
const SEQUENCE = /^\d{1,15}$/

/** The links of one HTTP transport on one server. */
class HttpLinks implements RunningTransport {
  private readonly links = new Map<string, HttpLink>()
  private readonly maxBodyBytes: number

  constructor(
    private readonly id: TransportId,
    private readonly host: TransportHost,
    private readonly downstream: Downstream,
  ) {
    // Up to what a client batches before it knows our limits (as for the WebSocket cap): a single request
    // over `maxMessageBytes` inside is answered for its id, and the body is never refused for it.
    this.maxBodyBytes = httpBodyCap(host.limits.maxMessageBytes)
  }

  request(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): boolean {
    const linkId = query.get("link")
    const named = query.get("transport") === this.id
    switch (request.method) {
      case "POST": {
        if (linkId === null) {
          if (!named) return false
          void this.open(request, response)
          return true
        }
        const link = this.links.get(linkId)
        if (!link) return false
        this.upstream(request, response, link)
        return true
      }
      case "GET":
        if (!named) return false
        this.downstreamGet(request, response, linkId, query.get("ack"))
        return true
      case "DELETE": {
        const link = linkId === null ? undefined : this.links.get(linkId)
        if (!link) return false
        link.end(1000, "CLIENT_CLOSED")
        link.forget?.()
        answer(response, 204)
        return true
      }
      default:
        return false
    }
  }

  /** Closes every link, then waits (up to a grace period) for closed links to hand over their last frames. */
  async close(): Promise<void> {
    for (const link of [...this.links.values()]) link.end(1001, "SERVER_CLOSED")
    const deadline = Date.now() + CLOSE_GRACE_MS
    while (this.links.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  }

  private downstreamGet(
    request: IncomingMessage,
    response: ServerResponse,
    linkId: string | null,
    ack: string | null,
  ): void {
    const link = linkId === null ? undefined : this.links.get(linkId)
    if (!link) return this.downstream.gone ? this.downstream.gone(response) : refuseGoneLink(response)
    // The acknowledgement first: one of frames never sent ends the session, and this request then
    // collects its BYE like any request for a closed link.
    if (ack !== null && !link.isClosed && !this.acknowledge(link, ack)) {
      return refuse(response, "INVALID_FRAME", "ack must be a sequence number")
    }
    // What an earlier response carried past the ack never reached the client: it goes again.
    if (ack !== null) link.resendAfter(Number(ack))
    if (link.isClosed) {
      // A closed link that lingers for its last frames: hand them over, then forget the link.
      const frames = link.drain()
      link.forget?.()
      return this.downstream.drained ? this.downstream.drained(frames, response) : answerFrames(response, frames)
    }
    this.downstream.get(link, request, response)
  }

  private async open(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await this.readBody(request, response)
    if (body === undefined) return
    const admission = await this.host.admit(request)
    if (!admission.ok) return refuse(response, admission.code, admission.message)
    const forget = (closed: HttpLink) => {
      if (this.links.get(closed.id) !== closed) return
      this.links.delete(closed.id)
      admission.release()
    }
    const prefix = this.host.nodeId === undefined ? "" : `${this.host.nodeId}.`
    const link = new HttpLink(
      this.downstream,
      (closed, code, reason) => {
        closed.events?.close(code, reason)
        if (closed.queue.length === 0) return forget(closed)
        // Frames queued with the close (a BYE) wait for the next downstream request, for a while.
        closed.forget = () => forget(closed)
        setTimeout(closed.forget, LINGER_MS).unref()
      },
      prefix,
    )
    this.links.set(link.id, link)
    link.events = this.host.accept(link, {
      transport: this.id,
      remoteAddress: request.socket.remoteAddress,
      auth: admission.auth,
    })
    answer(response, 200, { link: link.id })
    this.feed(link, body)
  }

  private upstream(request: IncomingMessage, response: ServerResponse, link: HttpLink): void {
    void this.readBody(request, response).then((body) => {
      if (body === undefined) return
      if (link.isClosed) return refuseGoneLink(response)
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
      refuse(response, "MESSAGE_TOO_LARGE", `bodies are limited to ${this.maxBodyBytes} bytes`)
      request.resume()
      return Promise.resolve(undefined)
    }
    return new Promise((resolve) => {
      const chunks: Buffer[] = []
      let size = 0
      request.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size > this.maxBodyBytes) {
          refuse(response, "MESSAGE_TOO_LARGE", `bodies are limited to ${this.maxBodyBytes} bytes`)
          request.destroy()
          return resolve(undefined)
        }
        chunks.push(chunk)
      })
      request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      request.on("error", () => resolve(undefined))
    })
  }
}

/** How long a closed link keeps frames nobody has collected yet (ms). */
const LINGER_MS = 10_000

/** How long closing the server waits for closed links to hand over their last frames (ms). */
const CLOSE_GRACE_MS = 1000
