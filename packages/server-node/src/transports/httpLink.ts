import { randomBytes } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { isDataFrame, isEncodedWelcome, LatestFrames, type Link, type ServerLinkEvents } from "@switchyard/core"

/**
 * One link of an HTTP transport: a virtual connection named by an unguessable id and carried by many
 * requests (docs/http-transports.md), and the `Downstream` that each HTTP transport fills in to say how
 * its frames go down. `httpTransport()` (`transports/http.ts`) does the rest.
 */

/** How one HTTP transport carries frames downstream. */
export interface Downstream {
  /** A downstream GET for `link`. */
  get(link: HttpLink, request: IncomingMessage, response: ServerResponse): void
  /** A newer downstream GET came for `link`: let go of the one held for it (long polling answers it 204). */
  superseded?(link: HttpLink): void
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

/** A response a transport holds for a link (long polling's held poll). */
export interface HeldResponse {
  readonly response: ServerResponse
  /** It is answered or gone: stop waiting for it. */
  cancel(): void
}

/**
 * One link: frames the session sent and the transport has not delivered yet, plus transport state. What
 * an idle link holds is kept small (docs/performance.md#idle-connections): no closure of its own, and
 * the unreliable frames' table made on the first one.
 */
export class HttpLink implements Link {
  readonly id: string
  /** Frames waiting to go downstream, oldest first. */
  queue: string[] = []
  /**
   * Unreliable frames waiting, at most one per slot (docs/delivery.md): a poll takes the latest of each,
   * and an SSE stream writes them when its response is not backed up. Made on the first one.
   */
  latest: LatestFrames | undefined
  /** A response the transport holds for this link. */
  held: HeldResponse | undefined
  /** The opening POST, until it is answered (docs/limits.md#sessions: a refused HELLO gets its status). */
  opening: ServerResponse | undefined
  events: ServerLinkEvents | undefined
  isClosed = false
  /** The highest `ack` a downstream request carried. */
  acked = 0
  /**
   * Data frames handed to downstream responses that no `ack` has covered yet, oldest first: kept only
   * once a downstream request carried an `ack` (long polling, polling), and given back by `resendAfter`.
   */
  private unconfirmed: string[] | undefined
  /** Set while a closed link lingers for its last frames: removes it from the server's links. */
  forget: (() => void) | undefined
  private scheduled = false

  constructor(
    readonly transport: Downstream,
    /** Told once when the link ends (the transport's links, shared by all of them). */
    private readonly onClose: (link: HttpLink, code: number, reason: string) => void,
    /** What the id starts with: the node's id and a dot, with a cluster. */
    prefix: string,
    /** Gives back the connection the link was admitted as (`TransportHost.admit`). */
    readonly release: () => void,
    /** Marks the closed link as lingering: it gives way to a new connection at the per-address bound. */
    readonly linger: (forget: () => void) => void,
  ) {
    this.id = prefix + randomBytes(16).toString("base64url")
  }

  send(frame: string): void {
    if (this.isClosed) return
    this.queue.push(frame)
    this.schedule()
  }

  sendLatest(slot: object, frame: string): void {
    if (this.isClosed) return
    this.latest ??= new LatestFrames()
    this.latest.put(slot, frame)
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled) return
    // Frames of one tick leave together.
    this.scheduled = true
    process.nextTick(deliver, this)
  }

  /** The tick's frames are all queued: the transport takes them. */
  deliver(): void {
    this.scheduled = false
    this.transport.ready(this)
  }

  /** Unreliable frames waiting. */
  get latestWaiting(): number {
    return this.latest?.size ?? 0
  }

  /** Whether anything waits to go downstream. */
  get pending(): boolean {
    return this.queue.length > 0 || this.latestWaiting > 0
  }

  /**
   * Takes every queued frame and the latest unreliable frame of each slot, as one batch body. The
   * unreliable frames go first (after a WELCOME, which the client must read before anything), so that the
   * last item of an unreliable stream comes before its END.
   */
  drain(): string {
    if (this.latest !== undefined && this.latest.size > 0) {
      const unreliable: string[] = []
      this.latest.flush((frame) => unreliable.push(frame))
      const head = this.queue[0] !== undefined && isEncodedWelcome(this.queue[0]) ? 1 : 0
      this.queue.splice(head, 0, ...unreliable)
    }
    if (this.unconfirmed) for (const frame of this.queue) if (seqOf(frame) !== undefined) this.unconfirmed.push(frame)
    const body = this.queue.join("\n")
    this.queue = []
    return body
  }

  /**
   * A downstream request says the client has every data frame up to `ack`: forgets those, and queues
   * again, first, those an earlier response carried past it. That response was lost on the way (a
   * browser retries a poll whose connection was reset; a relayed poll's client may be gone) and the
   * client, polling on the same link, would otherwise never get them: the session replays only on a new
   * link. A frame that did arrive and comes twice is dropped by the client's session.
   */
  resendAfter(ack: number): void {
    const unconfirmed = this.unconfirmed ?? []
    this.unconfirmed = []
    const lost = unconfirmed.filter((frame) => (seqOf(frame) as number) > ack)
    if (lost.length > 0) this.queue.unshift(...lost)
  }

  close(code: number, reason: string): void {
    this.end(code, reason)
  }

  /** Ends the link once; frames already queued are still delivered to a poll that comes for them. */
  end(code: number, reason: string): void {
    if (this.isClosed) return
    this.isClosed = true
    // Unreliable frames are never delivered late: a link that closes drops them.
    this.latest?.clear()
    this.transport.closed(this)
    this.onClose(this, code, reason)
  }
}

/** The sequence number of a data frame (`[type, seq, …]`), undefined for a control frame. */
function seqOf(frame: string): number | undefined {
  const match = DATA_FRAME.exec(frame)
  return match && isDataFrame(Number(match[1])) ? Number(match[2]) : undefined
}

const DATA_FRAME = /^\[(\d+),(\d+)/

function deliver(link: HttpLink): void {
  link.deliver()
}
