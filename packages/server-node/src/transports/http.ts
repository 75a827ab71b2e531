import type { IncomingMessage, ServerResponse } from "node:http"
import {
  control,
  decodeServerFrame,
  errorCodes,
  FrameType,
  type HttpErrorCode,
  httpBodyCap,
  type TransportId,
  type TransportOffer,
} from "@switchyard/core"
import { answer, answerFrames, refuse, refuseGoneLink, refuseUnread } from "../httpAnswers.ts"
import { type BodyBounds, readBody } from "../httpBodies.ts"
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
 * ```ts
 * // polling, as pollingServer() makes it: pollingDownstream answers each GET at once with what is queued
 * declare function pollingDownstream(): Downstream
 * const polling = httpTransport("polling", { duplex: false, binary: false, ordered: true }, () => pollingDownstream())
 * ```
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
  private readonly bodies: BodyBounds
  /** Links whose upstream POST is being read: at most one at a time per link. */
  private readonly reading = new WeakSet<HttpLink>()

  constructor(
    private readonly id: TransportId,
    private readonly host: TransportHost,
    private readonly downstream: Downstream,
  ) {
    // Up to what a client batches before it knows our limits (as for the WebSocket cap): a single request
    // over `maxMessageBytes` inside is answered for its id, and the body is never refused for it.
    this.bodies = {
      maxBodyBytes: httpBodyCap(host.limits.maxMessageBytes),
      readTimeoutMs: host.limits.readTimeoutMs,
      incomplete: host.incomplete,
    }
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

  /** A link ended: the session hears it; the link is forgotten once its last frames are collected. */
  private readonly linkClosed = (closed: HttpLink, code: number, reason: string) => {
    closed.events?.close(code, reason)
    // Its HELLO was refused a new session (too many, too fast): the client sees the status, not a 200
    // whose BYE would wait for a downstream request (docs/limits.md#sessions); no link is kept.
    const { opening } = closed
    const refusal = opening && refusalOf(closed.queue)
    if (opening && refusal) {
      this.forget(closed)
      refuse(opening, refusal.code, refusal.message)
      closed.opening = undefined
      return
    }
    if (closed.queue.length === 0) return this.forget(closed)
    // Frames queued with the close (a BYE) wait for the next downstream request, for a while. A link
    // forgotten sooner clears its timer, which would otherwise hold it (and its session's closures).
    const linger = setTimeout(() => this.forget(closed), LINGER_MS)
    linger.unref()
    closed.forget = () => {
      clearTimeout(linger)
      this.forget(closed)
    }
    // It still counts toward maxConnectionsPerIp, but gives way to a new connection from its address at
    // the bound: a storm of clients coming back on new links would otherwise wait out their old links.
    closed.linger(closed.forget)
  }

  private forget(closed: HttpLink): void {
    if (this.links.get(closed.id) !== closed) return
    this.links.delete(closed.id)
    closed.release()
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
    // An unknown link is over whatever its `ack` says (410 before 400), and a closed one is not read.
    if (!link) return this.downstream.gone ? this.downstream.gone(response) : refuseGoneLink(response)
    if (!link.isClosed && ack !== null) {
      // A refused request changes nothing: a poll held for the link stays held.
      if (!SEQUENCE.test(ack)) return refuse(response, "INVALID_FRAME", "ack must be a sequence number")
      // This request replaces the held poll before its ack is read, so that what the ack causes (an ack of
      // frames never sent: NOTICE SEQUENCE_GAP, and the link closes) is collected by this request.
      this.downstream.superseded?.(link)
      this.acknowledge(link, Number(ack))
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
    // Admission first (the Origin, the per-address bound, `authenticate`): a client that may not open a
    // link gets no byte of its body read.
    const admission = await this.host.admit(request)
    if (!admission.ok) return refuseUnread(request, response, admission.code, admission.message)
    const body = await readBody(request, response, this.bodies)
    if (body === undefined) return admission.release()
    const prefix = this.host.nodeId === undefined ? "" : `${this.host.nodeId}.`
    const link = new HttpLink(this.downstream, this.linkClosed, prefix, admission.release, admission.linger)
    link.opening = response
    this.links.set(link.id, link)
    link.events = this.host.accept(link, {
      transport: this.id,
      remoteAddress: admission.address,
      auth: admission.auth,
    })
    // The HELLO first: a refused one is answered when its refusal comes (above), now or after
    // refusalDelayMs, and the link counts toward maxConnectionsPerIp until then.
    this.feed(link, body)
    if (link.opening === undefined || this.host.refusing?.(link)) return
    link.opening = undefined
    answer(response, 200, { link: link.id })
  }

  private upstream(request: IncomingMessage, response: ServerResponse, link: HttpLink): void {
    // The bundled client posts one batch at a time; more at once only pile bodies up in memory.
    if (this.reading.has(link)) {
      return refuseUnread(request, response, "LINK_BUSY", "this link is already reading a POST; send one at a time")
    }
    this.reading.add(link)
    void readBody(request, response, this.bodies).then((body) => {
      this.reading.delete(link)
      if (body === undefined) return
      if (link.isClosed) return refuseGoneLink(response)
      answer(response, 204)
      this.feed(link, body)
    })
  }

  /**
   * A downstream request's `ack` (long polling, polling): the client's cumulative acknowledgement, handed
   * to the session as the ACK frame it stands for, once per new value (0 and repeats change nothing).
   */
  private acknowledge(link: HttpLink, received: number): void {
    if (received <= link.acked) return
    link.acked = received
    link.events?.frame(control.ack(received))
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
}

/** How long a closed link keeps frames nobody has collected yet (ms). */
const LINGER_MS = 10_000

/** How long closing the server waits for closed links to hand over their last frames (ms). */
const CLOSE_GRACE_MS = 1000

/** The code and message of the BYE a link was refused with at its opening, when that code has an HTTP status. */
function refusalOf(queue: readonly string[]): { code: HttpErrorCode; message: string } | undefined {
  const decoded = decodeServerFrame(queue[queue.length - 1])
  if (!decoded.ok || decoded.frame[0] !== FrameType.BYE) return undefined
  const [, code, message] = decoded.frame
  const entry: { readonly http?: number } | undefined = errorCodes[code as HttpErrorCode]
  return entry?.http === undefined ? undefined : { code: code as HttpErrorCode, message }
}
