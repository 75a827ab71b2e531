import type { AnyContract, Client, ClientTransport, SessionOptions, TransportId } from "@switchyard/core"
import type { BackoffOptions } from "./backoff.ts"
import { ClientRuntime } from "./runtime.ts"
import type { FetchLike } from "./transports/http.ts"
import type { EventSourceConstructor } from "./transports/sse.ts"
import type { WebSocketConstructor } from "./transports/websocket.ts"

/** Options of `createClient`. */
export interface ClientOptions {
  /** The server's transport URL, e.g. `"http://localhost:3000/switchyard"`. */
  readonly url: string
  /** Transports by id or as objects, in the order to try. Default `["websocket"]`. */
  readonly transports?: ReadonlyArray<TransportId | ClientTransport>
  /** WebSocket constructor; defaults to `globalThis.WebSocket` (pass `ws`'s in Node). */
  readonly WebSocket?: WebSocketConstructor
  /** EventSource constructor for `"sse"`; defaults to `globalThis.EventSource` (pass `eventsource`'s in Node). */
  readonly EventSource?: EventSourceConstructor
  /** `fetch` for the HTTP transports; defaults to `globalThis.fetch`. */
  readonly fetch?: FetchLike
  /** Reconnection backoff: full jitter, capped. */
  readonly reconnect?: BackoffOptions
  /** A connection attempt without a completed handshake by then is abandoned (ms). Default 10 000. */
  readonly connectTimeoutMs?: number
  /** Bounds of the client's replay buffer; calls past it reject with `QUEUE_FULL`. */
  readonly limits?: Partial<SessionOptions> & { readonly maxDepth?: number }
}

/**
 * Creates the typed client of a contract and starts connecting.
 *
 * @example
 * const client = createClient(Chat, { url: "http://localhost:3000/switchyard" })
 * await client.rpc.add({ a: 1, b: 2 }) // 3
 */
export function createClient<C extends AnyContract>(contract: C, options: ClientOptions): Client<C> {
  return new ClientRuntime(contract, options).client as Client<C>
}
