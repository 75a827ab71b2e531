import {
  type ClientLinkEvents,
  type ClientTransport,
  type Corkable,
  corkPerTick,
  type Link,
  type LinkHeaders,
} from "@switchyard/core"

/**
 * The part of the WebSocket API the transport uses: the browser's, or the `ws` package's in Node. Event
 * handler parameters are `never` so that both implementations' own event types are accepted.
 */
export interface WebSocketLike {
  readonly readyState: number
  onopen: ((event: never) => void) | null
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

/**
 * A WebSocket constructor. Its parameters are left open because `ws` declares overloads (the first takes
 * `null`) that TypeScript would otherwise compare one by one; it is called as `new WebSocket(url)`.
 */
export type WebSocketConstructor = new (...args: never) => WebSocketLike

/** Options of `websocketTransport`. */
export interface WebSocketTransportOptions {
  /** Defaults to `globalThis.WebSocket`; pass `ws`'s `WebSocket` in Node. */
  readonly WebSocket?: WebSocketConstructor | undefined
}

/**
 * The WebSocket transport: one socket carries the session both ways.
 *
 * @example
 * ```ts
 * import { createClient, websocketTransport } from "@switchyard/client-browser"
 * import WebSocket from "ws" // in Node; browsers have their own
 *
 * createClient(Chat, { url, transports: [websocketTransport({ WebSocket })] })
 * ```
 */
export function websocketTransport(options: WebSocketTransportOptions = {}): ClientTransport {
  return {
    id: "websocket",
    // An upgrade: some proxies and networks refuse it.
    startRank: 40,
    connect(url: string, events: ClientLinkEvents, _signalling?: unknown, headers?: LinkHeaders): Link {
      const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
      if (!WebSocketImpl) throw new TypeError("switchyard: no WebSocket here; pass one in the client options")
      // Node's `ws` takes headers as a third argument; a browser's WebSocket ignores it.
      const ws = new (WebSocketImpl as unknown as new (url: string, p?: [], o?: object) => WebSocketLike)(
        url.replace(/^http(s?):/i, "ws$1:"),
        [],
        { headers },
      )
      let closed = false
      let refusal: string | undefined
      ws.onopen = () => events.open()
      ws.onmessage = (event: { readonly data: unknown }) => events.frame(event.data)
      // `ws` tells the status of an upgrade refused with a bare HTTP answer (a browser does not: the server
      // closes the refusals a browser app must see with their code instead, docs/errors.md#refusals-on-a-websocket).
      ws.onerror = (event: { readonly message?: string }) => {
        // Only `ws`'s own words: a network error's message may end in digits too (a port: "…:8401").
        const status = /^Unexpected server response: (\d{3})$/.exec(event.message ?? "")?.[1]
        refusal = status === undefined ? undefined : upgradeRefusals[status]
      }
      ws.onclose = (event: { readonly code: number; readonly reason: string }) => {
        if (closed) return
        closed = true
        events.close(event.code, refusal ?? event.reason)
      }
      // In Node, `ws` exposes its net.Socket: cork it for the rest of the tick so that a burst of frames
      // leaves in one write. Browsers batch on their own and expose nothing.
      const cork = corkPerTick(() => socketOf(ws), queueMicrotask)
      return {
        send: (frame) => {
          if (ws.readyState !== 1) return
          cork()
          ws.send(frame)
        },
        close: (code, reason) => {
          // Browsers only let a page close with 1000 or 3000–4999.
          const allowed = code === 1000 || (code >= 3000 && code <= 4999)
          try {
            ws.close(allowed ? code : 1000, reason)
          } catch {
            // already closing
          }
        },
      }
    },
  }
}

/** What the status of a refused upgrade (the end of `ws`'s "Unexpected server response: 401") says. */
const upgradeRefusals: Record<string, string | undefined> = {
  401: "AUTH_REFUSED",
  403: "ORIGIN_FORBIDDEN",
  429: "TOO_MANY_CONNECTIONS",
}

/** The underlying socket of a `ws` WebSocket in Node; undefined for a browser WebSocket. */
function socketOf(ws: WebSocketLike): Corkable | undefined {
  const socket = (ws as { _socket?: { cork?: unknown; uncork?: unknown } })._socket
  return typeof socket?.cork === "function" ? (socket as Corkable) : undefined
}
