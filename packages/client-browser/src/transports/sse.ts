import type { ClientLinkEvents, ClientTransport, Link, LinkHeaders } from "@switchyard/core"
import { downstreamUrl, type FetchLike, type HttpLinkState, httpLink } from "./http.ts"

/**
 * The part of the EventSource API the transport uses: the browser's, or the `eventsource` package's in
 * Node. Event handler parameters are `never` so that both implementations' own event types are accepted.
 */
export interface EventSourceLike {
  readonly readyState: number
  onmessage: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  addEventListener(type: string, listener: () => void): void
  close(): void
}

/** An EventSource constructor, called as `new EventSource(url)` (or `(url, { fetch })` when one is given). */
export type EventSourceConstructor = new (...args: never) => EventSourceLike

/** Options of `sseTransport`. */
export interface SseTransportOptions {
  /** Defaults to `globalThis.EventSource`; pass the `eventsource` package's `EventSource` in Node. */
  readonly EventSource?: EventSourceConstructor | undefined
  /** For the upstream POSTs (and handed to an EventSource that takes one); defaults to `globalThis.fetch`. */
  readonly fetch?: FetchLike | undefined
}

/** `EventSource.CLOSED`: the EventSource gave up and will not reconnect. */
const CLOSED = 2

/**
 * Server-Sent Events: frames come down one `text/event-stream` response and go up in POSTs. When the
 * stream breaks or the server ends it, the EventSource reconnects by itself with `Last-Event-ID` and the
 * server replays what it missed on the same link.
 *
 * @example
 * ```ts
 * import { createClient, sseTransport } from "@switchyard/client-browser"
 * import { EventSource } from "eventsource" // in Node; browsers have their own
 *
 * createClient(Chat, { url, transports: [sseTransport({ EventSource })] })
 * ```
 */
export function sseTransport(options: SseTransportOptions = {}): ClientTransport {
  return {
    id: "sse",
    // A long-lived response: some proxies buffer or cut it.
    startRank: 30,
    connect(url: string, events: ClientLinkEvents, _signalling?: unknown, headers?: LinkHeaders): Link {
      const EventSourceImpl =
        options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource
      if (!EventSourceImpl) throw new TypeError("switchyard: no EventSource here; pass one in the client options")
      const open = EventSourceImpl as unknown as new (url: string, init?: { fetch: FetchLike }) => EventSourceLike
      const init = options.fetch === undefined ? undefined : { fetch: options.fetch }
      return httpLink(
        url,
        "sse",
        options.fetch,
        events,
        (link) => stream(link, () => new open(downstreamUrl(link), init)),
        false,
        headers,
      )
    },
  }
}

/**
 * Runs the link's event stream until the link ends: resolves when the server says the link is `gone`,
 * rejects when the EventSource gives up; while it is reconnecting by itself, waits.
 */
function stream(link: HttpLinkState, create: () => EventSourceLike): Promise<void> {
  return new Promise((resolve, reject) => {
    if (link.signal.aborted) return resolve()
    const source = create()
    const finish = (settle: () => void) => {
      source.close()
      link.signal.removeEventListener("abort", onAbort)
      settle()
    }
    const onAbort = () => finish(resolve)
    link.signal.addEventListener("abort", onAbort)
    source.onmessage = (event: { readonly data: string }) => link.frames(event.data)
    source.addEventListener("gone", () => finish(resolve))
    source.onerror = () => {
      if (source.readyState === CLOSED) finish(() => reject(new Error("the event stream failed")))
    }
  })
}
