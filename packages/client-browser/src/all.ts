import type { AnyContract, Client, ClientTransport, TransportId } from "@switchyard/core"
import { createClient as createWith } from "./client.ts"
import { type ClientOptions, rankedByServer } from "./options.ts"
import type { FetchLike } from "./transports/http.ts"
import { longPollingTransport } from "./transports/longPolling.ts"
import { pollingTransport } from "./transports/polling.ts"
import { type EventSourceConstructor, sseTransport } from "./transports/sse.ts"
import { type WebSocketConstructor, websocketTransport } from "./transports/websocket.ts"

export * from "./index.ts"

/** The platform constructors the built-in transports take; each defaults to `globalThis`'s. */
export interface PlatformOptions {
  /** WebSocket constructor; defaults to `globalThis.WebSocket` (pass `ws`'s in Node). */
  readonly WebSocket?: WebSocketConstructor
  /** EventSource constructor for `"sse"`; defaults to `globalThis.EventSource` (pass `eventsource`'s in Node). */
  readonly EventSource?: EventSourceConstructor
  /** `fetch` for the HTTP transports; defaults to `globalThis.fetch`. */
  readonly fetch?: FetchLike
}

/** Options of this entry's `createClient`: transports may be named by id, or left to the default. */
export interface AllTransportsClientOptions extends Omit<ClientOptions, "transports">, PlatformOptions {
  /**
   * Transports by id or as objects, best first (docs/negotiation.md). Default: `defaultTransports()`,
   * every transport this runtime has, ranked in the server's order.
   */
  readonly transports?: ReadonlyArray<TransportId | ClientTransport>
}

/**
 * Every built-in transport this runtime can run, ranked in the server's order: `"websocket"` where there
 * is a `WebSocket`, `"sse"` where there is an `EventSource`, `"long-polling"` and `"polling"` where there
 * is a `fetch`. Using it bundles all four.
 *
 * @example
 * createClient(Chat, { url, transports: defaultTransports() })
 */
export function defaultTransports(options: PlatformOptions = {}): readonly ClientTransport[] {
  const g = globalThis as { WebSocket?: unknown; EventSource?: unknown; fetch?: unknown }
  const ids: TransportId[] = []
  if (options.WebSocket ?? g.WebSocket) ids.push("websocket")
  if (options.EventSource ?? g.EventSource) ids.push("sse")
  if (options.fetch ?? g.fetch) ids.push("long-polling", "polling")
  return rankedByServer(ids.map((id) => transportById(id, options)))
}

/** A built-in transport by its id. */
export function transportById(id: TransportId, options: PlatformOptions = {}): ClientTransport {
  if (id === "websocket") return websocketTransport({ WebSocket: options.WebSocket })
  if (id === "long-polling") return longPollingTransport({ fetch: options.fetch })
  if (id === "sse") return sseTransport({ EventSource: options.EventSource, fetch: options.fetch })
  if (id === "polling") return pollingTransport({ fetch: options.fetch })
  throw new TypeError(`switchyard: transport ${JSON.stringify(id)} is not available in this client`)
}

/**
 * `createClient` with every built-in transport at hand: transports may be named by id, and without
 * `transports` the client negotiates among all of them (`defaultTransports()`). Convenient, but it ships
 * every transport; `createClient` from `@switchyard/client-browser` with transport factories ships only
 * those.
 *
 * @example
 * import { createClient } from "@switchyard/client-browser/all"
 * const client = createClient(Chat, { url })
 */
export function createClient<C extends AnyContract>(contract: C, options: AllTransportsClientOptions): Client<C> {
  const { WebSocket, EventSource, fetch, transports, ...rest } = options
  const platform: PlatformOptions = {
    ...(WebSocket ? { WebSocket } : {}),
    ...(EventSource ? { EventSource } : {}),
    ...(fetch ? { fetch } : {}),
  }
  return createWith(contract, {
    ...rest,
    ...(fetch ? { fetch } : {}),
    transports:
      transports === undefined
        ? defaultTransports(platform)
        : transports.map((t) => (typeof t === "string" ? transportById(t, platform) : t)),
  })
}
