import type { IncomingMessage, ServerResponse } from "node:http"
import { closeCodeOf, isDataFrame } from "@switchyard/core"
import type { ServerTransport } from "../transport.ts"
import { httpTransport } from "./http.ts"
import type { Downstream, HttpLink } from "./httpLink.ts"

/** Server-Sent Events (docs/sse.md), bounded by the `sse*` limits and `maxBufferedBytes`. */
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

/** One open event stream. */
interface Stream {
  readonly response: ServerResponse
  readonly keepAlive: ReturnType<typeof setInterval>
  readonly lifetime: ReturnType<typeof setTimeout>
}

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
  /** The open stream of each link; `undefined` once a link had a stream and lost it. */
  const streams = new WeakMap<HttpLink, Stream | undefined>()
  /** Responses with a 'drain' listener that will write the link's waiting unreliable frames. */
  const waitingForDrain = new WeakSet<ServerResponse>()

  const stop = (link: HttpLink): ServerResponse | undefined => {
    const stream = streams.get(link)
    if (!stream) return undefined
    streams.set(link, undefined)
    clearInterval(stream.keepAlive)
    clearTimeout(stream.lifetime)
    return stream.response
  }

  const flush = (link: HttpLink) => {
    const stream = streams.get(link)
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
    link.latest.flush(
      (frame) => {
        text += `data: ${frame}\n\n`
      },
      () => response.writableLength + text.length > maxUnreliableBufferedBytes,
    )
    if (link.latest.size > 0 && !waitingForDrain.has(response)) {
      waitingForDrain.add(response)
      response.once("drain", () => {
        waitingForDrain.delete(response)
        flush(link)
      })
    }
    if (text === "") return
    stream.response.write(text)
    // A client that stops reading: the link ends (the session waits for a resume, as on a WebSocket)
    // rather than the stream buffering without bound.
    if (stream.response.writableLength > maxBufferedBytes) {
      stop(link)?.destroy()
      link.end(closeCodeOf("SLOW_CONSUMER"), "SLOW_CONSUMER")
    }
  }

  return {
    get(link: HttpLink, request: IncomingMessage, response: ServerResponse) {
      const reconnected = streams.has(link)
      // A second stream for the same link means the client lost the first (maybe without our noticing).
      stop(link)?.end()
      response.writeHead(200, headers)
      response.write(retry)
      const stream: Stream = {
        response,
        keepAlive: setInterval(() => response.write(": \n\n"), keepAliveMs),
        lifetime: setTimeout(() => stop(link)?.end(), maxStreamMs),
      }
      stream.keepAlive.unref()
      stream.lifetime.unref()
      streams.set(link, stream)
      request.once("close", () => {
        if (streams.get(link)?.response === response) stop(link)
      })
      if (reconnected) {
        // Queued data frames are in the session's replay buffer too, and resume sends them again: drop
        // them here so that they leave once. Control frames are not replayed, so they stay.
        link.queue = link.queue.filter((frame) => sequenceOf(frame) === 0)
        link.events?.resume?.(lastEventId(request))
      }
      flush(link)
    },
    ready: flush,
    closed(link: HttpLink) {
      // Frames queued with the close (a BYE) still go out, then the client is told the link is over.
      flush(link)
      const response = stop(link)
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
