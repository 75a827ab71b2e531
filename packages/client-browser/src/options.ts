import {
  type AnyContract,
  type ClientCredentials,
  type ClientTransport,
  type CompiledContract,
  compileContract,
  defaultSessionOptions,
  hasEffectCodec,
  prepareContract as loadSchemaCodecs,
  type PeerMap,
  type Peers,
  type SessionOptions,
  type SwitchyardError,
  usesEffectSchemas,
} from "@switchyard/core"
import type { BackoffOptions } from "./backoff.ts"
import type { StorageLike } from "./transportStore.ts"
import type { FetchLike } from "./transports/http.ts"

/** Options of `createClient`. */
export interface ClientOptions {
  /** The server's transport URL, e.g. `"http://localhost:3000/switchyard"`. */
  readonly url: string
  /**
   * The transports this client may use, best first, each from its factory (`websocketTransport()`,
   * `sseTransport()`, `longPollingTransport()`, `pollingTransport()`, `webrtcTransport()` from
   * `@switchyard/webrtc-data`): only those end up in the bundle. Negotiation (docs/negotiation.md) picks
   * among them: the session starts on the one likeliest to connect at once and moves up to better ones as
   * they prove to work. This order is the ranking; one transport turns negotiation off. `defaultTransports()`
   * (from `@switchyard/client-browser/all`) is every transport the runtime has, ranked in the server's order.
   */
  readonly transports: readonly ClientTransport[]
  /**
   * Client↔client connections (`client.peers`, docs/peers.md): `peers()` from
   * `@switchyard/client-browser/peers`. Without it, `client.peers.connect` rejects and the client turns
   * down incoming connections.
   */
  readonly peers?: PeersFeature
  /** `fetch` for the negotiate request; defaults to `globalThis.fetch`. Without one, the client plans without the server's offer. */
  readonly fetch?: FetchLike
  /** Reconnection backoff: full jitter, capped. */
  readonly reconnect?: BackoffOptions
  /** A connection attempt without a completed handshake by then is abandoned (ms). Default 10 000. */
  readonly connectTimeoutMs?: number
  /** Negotiation timing and memory (docs/negotiation.md#options). */
  readonly negotiation?: NegotiationOptions
  /** Bounds of the client's replay buffer; calls past it reject with `QUEUE_FULL`. */
  readonly limits?: Partial<SessionOptions> & { readonly maxDepth?: number }
  /**
   * What each connection sends the server's `authenticate` (docs/sessions.md#credentials): query
   * parameters and headers, or a function (sync or async) the client calls before every connection, so
   * that a reconnect sends a fresh token. `client.reauthenticate()` applies new ones mid-session.
   *
   * @example
   * ```ts
   * declare function getToken(): Promise<string> // the app's own: a fresh token for each connection
   * const client = createClient(Chat, {
   *   url,
   *   transports: [websocketTransport()],
   *   auth: async () => ({ params: { token: await getToken() } }),
   * })
   * ```
   */
  readonly auth?: AuthOption
}

/** The `auth` option: credentials, or a function that gives them for each connection. */
export type AuthOption = ClientCredentials | (() => ClientCredentials | PromiseLike<ClientCredentials>)

/** Options of transport negotiation; all optional. */
export interface NegotiationOptions {
  /** A probe of a better transport that has not answered by then counts as failed (ms). Default 3 000. */
  readonly probeTimeoutMs?: number
  /** How long a transport that failed is skipped (ms). Default 300 000 (5 minutes). */
  readonly rememberFailureMs?: number
  /**
   * A transport whose link was lost (WebRTC) is not probed again for this long after the loss; when every
   * probe failed, the client tries to move up again after this (ms). Default 30 000.
   */
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

/** How negotiation behaves (docs/negotiation.md), every field resolved. */
export interface NegotiationSettings {
  /** A probe link that has not echoed the PROBE by then counts as failed (ms). */
  readonly probeTimeoutMs: number
  /** A transport that failed is skipped for this long, across page loads when there is storage (ms). */
  readonly rememberFailureMs: number
  /** After a fallback, or when every probe failed, the client tries to move up again after this (ms). */
  readonly upgradeRetryMs: number
  /** A link that dies sooner than this after its handshake counts against its transport (ms). */
  readonly stableLinkMs: number
  /** Deaths in a row of short-lived links after which the session falls back to the next transport. */
  readonly maxShortLinks: number
  /** Where the transport store keeps what worked and failed (the default storage when undefined). */
  readonly storage: StorageLike | undefined
}

/** What the connection runs with: the client options resolved against the defaults below. */
export interface ConnectionSettings {
  readonly url: string
  /** What this client can run, in its order of preference. */
  readonly transports: readonly ClientTransport[]
  /** Whose order ranks the transports: the client's when it listed them itself, else the server's. */
  readonly prefer: "client" | "server"
  readonly session: SessionOptions
  readonly maxDepth: number
  readonly reconnect: BackoffOptions
  readonly connectTimeoutMs: number
  readonly negotiation: NegotiationSettings
  /** For the negotiate request; without one, the client plans without the server's offer. */
  readonly fetch: FetchLike | undefined
  readonly auth: AuthOption | undefined
  /**
   * How a SIGNAL frame's kind and data are checked: by the rules of the signalled transport that reads
   * them (`ClientTransport.signalData`); a client given none never reads them, so takes any.
   */
  readonly signalData: (kind: unknown, data: unknown) => boolean
}

/** Items a stream may run ahead of its consumer unless the call says otherwise, and the most it may ask. */
export const defaultStreamWindow = 64
export const maxStreamWindow = 1 << 16

/** What `peers()` does unless told otherwise (docs/peers.md#options). */
export const defaultPeerSettings = { direct: true, directTimeoutMs: 15_000, maxPending: 1024 } as const

/** Lists of transports that the server's order ranks (`defaultTransports()`), not the list's own. */
const serverRanked = new WeakSet<readonly ClientTransport[]>()

/** Marks `transports` as ranked by the server's order (the default list). */
export function rankedByServer(transports: readonly ClientTransport[]): readonly ClientTransport[] {
  serverRanked.add(transports)
  return transports
}

/** The connection settings of `options`, every default filled in. */
export function connectionSettings(options: ClientOptions): ConnectionSettings {
  const transports = options.transports
  if (!Array.isArray(transports) || transports.length === 0) {
    throw new TypeError(
      "switchyard: no transports given; pass transports: [websocketTransport(), …] (or defaultTransports())",
    )
  }
  const negotiation = options.negotiation ?? {}
  return {
    url: options.url,
    transports,
    prefer: serverRanked.has(transports) ? "server" : "client",
    session: { ...defaultSessionOptions, ...options.limits },
    maxDepth: options.limits?.maxDepth ?? 64,
    reconnect: options.reconnect ?? {},
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    negotiation: {
      probeTimeoutMs: negotiation.probeTimeoutMs ?? 3000,
      rememberFailureMs: negotiation.rememberFailureMs ?? 300_000,
      upgradeRetryMs: negotiation.upgradeRetryMs ?? 30_000,
      stableLinkMs: negotiation.stableLinkMs ?? 5000,
      maxShortLinks: negotiation.maxShortLinks ?? 3,
      storage: negotiation.storage,
    },
    fetch: options.fetch ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined),
    auth: options.auth,
    signalData: transports.find((t) => t.signalData)?.signalData ?? (() => true),
  }
}

/**
 * Turns a contract into the codecs the client encodes and decodes with. Everything that touches a
 * payload waits for it; a preparation that returns a promise (one that loads a schema library's codecs
 * on demand) makes calls made before it settles wait, and a failed one fails them.
 */
export type PrepareContract = (contract: AnyContract) => CompiledContract | PromiseLike<CompiledContract>

/**
 * A Standard Schema contract (or an Effect one whose codec is already registered, as in a process that
 * also runs the server) compiles at once; an Effect Schema contract first loads core's Effect codec with
 * `import()`, which bundlers put in a chunk of its own, so a client whose contract has no Effect schema
 * never ships Effect (docs/performance.md#bundle-size).
 */
export const prepareContract: PrepareContract = (contract) =>
  hasEffectCodec() || !usesEffectSchemas(contract)
    ? compileContract(contract)
    : loadSchemaCodecs(contract).then(() => compileContract(contract))

/** What `client.peers` needs of the client: the contract's codecs and a way to send PEER frames. */
export interface PeerHost {
  readonly compiled: CompiledContract
  /** Queues a PEER frame on the session; the error when it was refused (too large, queue full, closed). */
  send(frameBody: string, payload?: string): SwitchyardError | undefined
  /** Whether the session has a connection now: an unreliable message is dropped, not queued, while not. */
  readonly connected: boolean
}

/** What the client runtime needs of `client.peers`. */
export interface PeerModule {
  readonly api: Peers<PeerMap>
  /** The session's peer id, from WELCOME; undefined while there is no session. */
  id: string | undefined
  /**
   * Whether a server's PEER frame with `op` and `data` is well formed (`isServerPeerData` for `peers()`):
   * one that is not counts as a malformed frame.
   */
  accepts(op: unknown, data: unknown): boolean
  /** A PEER frame from the server. */
  receive(conn: number, op: string, data: unknown): void
  /** The session ended (lost, or the client closed): every connection and connect ends with `error`. */
  endAll(error: SwitchyardError): void
}

/** `peers()` from `@switchyard/client-browser/peers`: makes the peer module of one client. */
export type PeersFeature = (host: PeerHost) => PeerModule
