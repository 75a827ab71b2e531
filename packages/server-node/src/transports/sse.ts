import type { IncomingMessage, ServerResponse } from "node:http"
import { closeCodeOf, isDataFrame } from "@switchyard/core"
import { Periodic } from "../periodic.ts"
import type { ServerTransport } from "../transport.ts"
import { httpTransport } from "./http.ts"
import type { Downstream, HttpLink } from "./httpLink.ts"

/**
 * Server-Sent Events (docs/sse.md), bounded by the `sse*` limits and `maxBufferedBytes`.
 *
 * @example
 * ```ts
 * import { createServer, sseServer } from "@switchyard/server-node"
 *
 * // SSE only: frames down on an event stream, up in POSTs.
 * const server = createServer(Chat, handlers, { transports: [sseServer()] })
 * ```
 */
export function sseServer(): ServerTransport {
  return httpTransport("sse", { duplex: false, binary: false, ordered: true }, (limits) =>
    sseDownstream(
      limits.sseKeepAliveMs,
      limits.sseMaxStreamMs,
      limits.maxBufferedBytes,
      limits.maxUnreliableBufferedBytes,
    ),
  )
}

/**
 * Server-Sent Events: the downstream GET is a `text/event-stream` response that stays open, one event
 * per frame. Data frames carry their sequence number as the event `id`, so an `EventSource` that
 * reconnects (a network blip, a proxy cutting the response, or the server ending it after
 * `sseMaxStreamMs`) sends `Last-Event-ID` and the session replays, on the same link, everything after it.
 * An unknown or closed link is told so in a `gone` event on a 200 answer: any other status would make a
 * browser's `EventSource` give up, while the session could still resume on a new link.
 */

const headers = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  // nginx (and proxies that copy it) would otherwise buffer the stream.
  "x-accel-buffering": "no",
}

/** A reconnecting EventSource waits this long (ms); short, as the session is waiting for it. */
const retry = "retry: 500\n\n"
const goneEvent = "event: gone\ndata:\n\n"

function sseDownstream(
  keepAliveMs: number,
  maxStreamMs: number,
  maxBufferedBytes: number,
  maxUnreliableBufferedBytes: number,
): Downstream {
  const downstream = new SseDownstream(maxBufferedBytes, maxUnreliableBufferedBytes)
  return {
    get(link: HttpLink, request: IncomingMessage, response: ServerResponse) {
      const reconnected = downstream.streams.has(link)
      // A second stream for the same link means the client lost the first (maybe without our noticing).
      downstream.stop(link)?.end()
      response.writeHead(200, headers)
      response.write(retry)
      flattenHead(response)
      const stream = new Stream(downstream, link, response)
      stream.start(keepAliveMs, maxStreamMs)
      downstream.streams.set(link, stream)
      // 'close' comes once: no `once` wrapper.
      request.on("close", () => {
        if (downstream.streams.get(link)?.response === response) downstream.stop(link)
      })
      if (reconnected) {
        // Queued data frames are in the session's replay buffer too, and resume sends them again: drop
        // them here so that they leave once. Control frames are not replayed, so they stay.
        link.queue = link.queue.filter((frame) => sequenceOf(frame) === 0)
        link.events?.resume?.(lastEventId(request))
      }
      downstream.flush(link)
    },
    ready: (link) => downstream.flush(link),
    closed(link: HttpLink) {
      // Frames queued with the close (a BYE) still go out, then the client is told the link is over.
      downstream.flush(link)
      const response = downstream.stop(link)
      response?.end(goneEvent)
    },
    drained(frames: string, response: ServerResponse) {
      response.writeHead(200, headers)
      let text = retry
      for (const frame of frames.split("\n")) if (frame) text += `data: ${frame}\n\n`
      response.end(text + goneEvent)
    },
    gone(response: ServerResponse) {
      response.writeHead(200, headers)
      response.end(retry + goneEvent)
    },
  }
}

/** The open event streams of one SSE transport. */
class SseDownstream {
  /** The open stream of each link; `undefined` once a link had a stream and lost it. */
  readonly streams = new WeakMap<HttpLink, Stream | undefined>()
  /** Responses with a 'drain' listener that will write the link's waiting unreliable frames. */
  private readonly waitingForDrain = new WeakSet<ServerResponse>()

  constructor(
    private readonly maxBufferedBytes: number,
    private readonly maxUnreliableBufferedBytes: number,
  ) {}

  /** Ends the link's stream's timers; returns its response, for the caller to end or destroy. */
  stop(link: HttpLink): ServerResponse | undefined {
    const stream = this.streams.get(link)
    if (!stream) return undefined
    this.streams.set(link, undefined)
    stream.stop()
    return stream.response
  }

  flush(link: HttpLink): void {
    const stream = this.streams.get(link)
    if (!stream || !link.pending) return
    const frames = link.queue
    link.queue = []
    let text = ""
    for (const frame of frames) {
      const seq = sequenceOf(frame)
      text += seq === 0 ? `data: ${frame}\n\n` : `id: ${seq}\ndata: ${frame}\n\n`
    }
    // Unreliable frames (no id: they are never replayed) go while the response is not backed up; the
    // rest wait, one per slot, for its 'drain'.
    const { response } = stream
    link.latest?.flush(
      (frame) => {
        text += `data: ${frame}\n\n`
      },
      () => response.writableLength + text.length > this.maxUnreliableBufferedBytes,
    )
    if (link.latestWaiting > 0 && !this.waitingForDrain.has(response)) {
      this.waitingForDrain.add(response)
      response.once("drain", () => {
        this.waitingForDrain.delete(response)
        this.flush(link)
      })
    }
    if (text === "") return
    stream.response.write(text)
    // A client that stops reading: the link ends (the session waits for a resume, as on a WebSocket)
    // rather than the stream buffering without bound.
    if (stream.response.writableLength > this.maxBufferedBytes) {
      this.stop(link)?.destroy()
      link.end(closeCodeOf("SLOW_CONSUMER"), "SLOW_CONSUMER")
    }
  }
}

/**
 * One open event stream: a comment line every `keepAliveMs`, and the end after `maxStreamMs`, both on the
 * shared timers (`Periodic`) rather than two timers and their closures (docs/performance.md#idle-connections).
 */
class Stream extends Periodic {
  private readonly lifetime = new StreamLifetime(this)

  constructor(
    private readonly downstream: SseDownstream,
    readonly link: HttpLink,
    readonly response: ServerResponse,
  ) {
    super()
  }

  start(keepAliveMs: number, maxStreamMs: number): void {
    this.startPeriod(keepAliveMs)
    this.lifetime.start(maxStreamMs)
  }

  stop(): void {
    this.stopPeriod()
    this.lifetime.stop()
  }

  /** Its lifetime is over: the EventSource reconnects on the same link with `Last-Event-ID`. */
  expire(): void {
    this.downstream.stop(this.link)?.end()
  }

  protected onPeriod(): void {
    this.response.write(": \n\n")
  }
}

/** When a stream ends: a one-shot entry of the shared timers. */
class StreamLifetime extends Periodic {
  constructor(private readonly stream: Stream) {
    super()
  }

  start(ms: number): void {
    this.startPeriod(ms)
  }

  stop(): void {
    this.stopPeriod()
  }

  protected onPeriod(): void {
    this.stopPeriod()
    this.stream.expire()
  }
}

/**
 * Node keeps the head it wrote (`_header`) for the response's life, as the tree of the concatenations it
 * was built from: about 0.8 KB for this head. Reading one character makes V8 flatten it into one string
 * of about 200 bytes, and the garbage collector then drops the tree. An event stream stays open for
 * minutes, so this is worth the look at a Node internal (docs/performance.md#idle-connections); where
 * there is no `_header` string it does nothing.
 */
function flattenHead(response: ServerResponse): void {
  const head = (response as unknown as { _header?: unknown })._header
  if (typeof head === "string") head.charCodeAt(0)
}

/**
 * The sequence number of a server data frame (`[type,seq,…]`), read from its first characters; 0 for a
 * control frame, which gets no event id.
 */
function sequenceOf(frame: string): number {
  let i = 1
  let type = 0
  for (let c = frame.charCodeAt(i); c >= 48 && c <= 57; c = frame.charCodeAt(++i)) type = type * 10 + c - 48
  if (frame.charCodeAt(i) !== 44 || !isDataFrame(type)) return 0
  let seq = 0
  for (let c = frame.charCodeAt(++i); c >= 48 && c <= 57; c = frame.charCodeAt(++i)) seq = seq * 10 + c - 48
  return frame.charCodeAt(i) === 44 ? seq : 0
}

/** What the client says it has: `Last-Event-ID`, or 0 (everything unacknowledged is sent again). */
function lastEventId(request: IncomingMessage): number {
  const header = request.headers["last-event-id"]
  return typeof header === "string" && /^\d{1,15}$/.test(header) ? Number(header) : 0
}
