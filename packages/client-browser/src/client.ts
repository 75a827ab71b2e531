import type { AnyContract, Client, ClientTransport, SessionOptions, TransportId } from "@switchyard/core"
import type { BackoffOptions } from "./backoff.ts"
import type { StorageLike } from "./memory.ts"
import type { RtcPeerConnectionConstructor } from "./peerDirect.ts"
import { ClientRuntime } from "./runtime.ts"
import type { FetchLike } from "./transports/http.ts"
import type { EventSourceConstructor } from "./transports/sse.ts"
import type { WebSocketConstructor } from "./transports/websocket.ts"

/** Options of `createClient`. */
export interface ClientOptions {
  /** The server's transport URL, e.g. `"http://localhost:3000/switchyard"`. */
  readonly url: string
  /**
   * Transports by id or as objects, best first. Negotiation (docs/negotiation.md) picks among them: the
   * session starts on the one likeliest to connect at once and moves up to better ones as they prove to
   * work. Listing them restricts the choice and makes this order the ranking; one transport turns
   * negotiation off. Default: every transport this runtime has (`"websocket"` where there is a
   * `WebSocket`, `"sse"` where there is an `EventSource`, `"long-polling"` and `"polling"` where there is
   * a `fetch`), ranked in the server's order.
   */
  readonly transports?: ReadonlyArray<TransportId | ClientTransport>
  /** WebSocket constructor; defaults to `globalThis.WebSocket` (pass `ws`'s in Node). */
  readonly WebSocket?: WebSocketConstructor
  /** EventSource constructor for `"sse"`; defaults to `globalThis.EventSource` (pass `eventsource`'s in Node). */
  readonly EventSource?: EventSourceConstructor
  /** `fetch` for the HTTP transports; defaults to `globalThis.fetch`. */
  readonly fetch?: FetchLike
  /**
   * RTCPeerConnection for direct peer channels (`client.peers`); defaults to `globalThis.RTCPeerConnection`
   * (in Node, pass `node-datachannel/polyfill`'s). Without one, peer connections use the server relay.
   */
  readonly RTCPeerConnection?: RtcPeerConnectionConstructor
  /** Client↔client connections (docs/peers.md#options). */
  readonly peers?: PeerClientOptions
  /** Reconnection backoff: full jitter, capped. */
  readonly reconnect?: BackoffOptions
  /** A connection attempt without a completed handshake by then is abandoned (ms). Default 10 000. */
  readonly connectTimeoutMs?: number
  /** Negotiation timing and memory (docs/negotiation.md#options). */
  readonly negotiation?: NegotiationOptions
  /** Bounds of the client's replay buffer; calls past it reject with `QUEUE_FULL`. */
  readonly limits?: Partial<SessionOptions> & { readonly maxDepth?: number }
}

/** Options of `client.peers`; all optional. */
export interface PeerClientOptions {
  /** Try a direct data channel to each peer (default true); false keeps every connection on the relay. */
  readonly direct?: boolean
  /** A data channel not open by then is given up and the connection stays on the relay (ms). Default 15 000. */
  readonly directTimeoutMs?: number
  /**
   * Messages one connection may have sent direct without acknowledgement (past it, messages take the
   * relay), hold ahead of a missing one (past it, the connection closes with `QUEUE_FULL`), and keep for
   * a channel's first subscriber (past it, they are dropped with a `QUEUE_FULL` error event). Default 1 024.
   */
  readonly maxPending?: number
}

/** Options of transport negotiation; all optional. */
export interface NegotiationOptions {
  /** A probe of a better transport that has not answered by then counts as failed (ms). Default 3 000. */
  readonly probeTimeoutMs?: number
  /** How long a transport that failed is skipped (ms). Default 300 000 (5 minutes). */
  readonly rememberFailureMs?: number
  /** After a fallback, or when every probe failed, try to move up again after this (ms). Default 30 000. */
  readonly upgradeRetryMs?: number
  /**
   * A link that dies sooner than `stableLinkMs` after its handshake counts against its transport; after
   * `maxShortLinks` such deaths in a row the session falls back. Defaults 5 000 ms and 3: a proxy that cuts
   * held requests after a fixed time trips it within seconds, while random cuts of a flaky network
   * (which every transport suffers) rarely do.
   */
  readonly stableLinkMs?: number
  readonly maxShortLinks?: number
  /**
   * Where to remember which transports worked and failed for this server. Default `localStorage` where
   * there is one, else memory shared by this process's clients.
   */
  readonly storage?: StorageLike
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
