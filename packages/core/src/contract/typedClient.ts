import type { SwitchyardError } from "../errors.ts"
import type { TransportId } from "../transport/types.ts"
import type { AnyContract, AnySchema, PeerMap, RpcMap, StreamMap, TopicMap, TypeOf } from "./contract.ts"

/**
 * The typed client of a contract, as `createClient` returns it. Declared in core so that the transport
 * contract suite (and anything else) can be written against it without depending on a client package.
 */
export interface Client<C extends AnyContract> {
  /** `client.rpc.add({ a, b })` → Promise of the output; rejects with a `SwitchyardError`. */
  readonly rpc: RpcProxy<C["rpc"]>
  /** `for await (const x of client.streams.countdown({ from: 3 }))`; leaving the loop cancels on the server. */
  readonly streams: StreamProxy<C["streams"]>
  /** `client.topics.room("lobby").subscribe(cb)` / `.publish(msg)`. */
  readonly topics: TopicProxy<C["topics"]>
  /** Direct channels to other clients of the same server, relayed when direct fails (docs/peers.md). */
  readonly peers: Peers<C["peers"]>
  /** The transport the session is on now; `undefined` while disconnected. */
  readonly transport: TransportId | undefined
  readonly state: ClientState
  /** The current session's public id. */
  readonly sessionId: string | undefined
  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void
  /**
   * Applies new credentials to the session without ending it (docs/sessions.md#credentials): `credentials`
   * (which then replace the `auth` option) or, without them, what the `auth` option gives now. The client
   * opens a new connection with them; once the server's `authenticate` accepts it, the session moves
   * there and the promise resolves: calls made from then on see the new `ctx.auth`. Rejects with
   * `AUTH_REFUSED` when `authenticate` refuses them (the session stays as it was, on its connection),
   * with `CONNECTION_LOST` when the new connection fails otherwise, and with `CLIENT_CLOSED` once closed.
   *
   * @example
   * ```ts
   * declare function refreshToken(): Promise<string> // the app's own
   * await client.reauthenticate({ params: { token: await refreshToken() } })
   * ```
   */
  reauthenticate(credentials?: ClientCredentials): Promise<void>
  /** Ends the session: pending calls reject with `CLIENT_CLOSED`; the server is told at once. */
  close(): Promise<void>
}

/**
 * What a client sends the server's `authenticate` with each connection (docs/sessions.md#credentials).
 */
export interface ClientCredentials {
  /**
   * Query parameters added to the URL of every request that opens a connection (the WebSocket upgrade,
   * the opening POST of SSE, long polling and polling). Every transport can send them; they tend to end up
   * in server and proxy logs.
   */
  readonly params?: Readonly<Record<string, string>>
  /**
   * Request headers (`authorization`): sent with the opening POST of the HTTP transports, and with the
   * upgrade by Node's `ws`. A browser's WebSocket cannot send headers: use `params` or a cookie there.
   */
  readonly headers?: Readonly<Record<string, string>>
}

/** Where a client is: connecting the first time, connected, reconnecting after a drop, or closed for good. */
export type ClientState = "connecting" | "connected" | "reconnecting" | "closed"

/** The events of a client, by name: `client.on("state", (state) => …)`. */
export interface ClientEvents {
  /**
   * The session is on a transport, and why: `"connected"` (the first handshake), `"resumed"` (after a
   * drop, same session), `"new session"` (the server had lost it), `"upgrade"` (moved up to a better
   * transport that passed its probe, with nothing lost) or `"fallback"` (moved down after its transport
   * kept failing), or `"reauthenticated"` (moved to a new connection by `reauthenticate()`). See
   * docs/negotiation.md.
   */
  transport: (name: TransportId, reason: string) => void
  /** The client's state changed (`ClientState`). */
  state: (state: ClientState) => void
  /**
   * After every handshake: `recovered` is true when the server still had the session (a resume, nothing
   * lost), false for a new one (the first, or one that replaced a session the server no longer had).
   */
  session: (info: { readonly id: string; readonly recovered: boolean }) => void
  /** Errors not tied to a call: a refused subscription, a NOTICE from the server, a lost session. */
  error: (error: SwitchyardError) => void
}

/** Options of one RPC call. */
export interface RpcCallOptions {
  /** Aborting rejects the call with `CANCELLED` and aborts the handler's `ctx.signal`. */
  readonly signal?: AbortSignal
}

/** Options of one stream call: an RPC call's, and the flow-control window. */
export interface StreamCallOptions extends RpcCallOptions {
  /** Items the server may send ahead of consumption (flow-control window). Default 64. */
  readonly window?: number
}

export type RpcProxy<R extends RpcMap> = {
  readonly [K in keyof R]: (input: TypeOf<R[K]["input"]>, options?: RpcCallOptions) => Promise<TypeOf<R[K]["output"]>>
}

export type StreamProxy<S extends StreamMap> = {
  readonly [K in keyof S]: (
    input: TypeOf<S[K]["input"]>,
    options?: StreamCallOptions,
  ) => AsyncIterable<TypeOf<S[K]["item"]>>
}

/** Options of `TopicHandle.subscribe`. */
export interface SubscribeOptions {
  /** Hears a refused subscription (`FORBIDDEN`, `LIMIT_EXCEEDED`, …); the subscription is then removed. */
  readonly onError?: (error: SwitchyardError) => void
  /**
   * Called each time the subscription is renewed after a lost session, when the server confirms it and
   * before the replayed messages reach `listener`. With `recovered: false` messages were missed for good
   * (the client also emits an `error` event with `TOPIC_GAP`): reload what this key keeps up to date.
   */
  readonly onRecover?: (info: TopicRecovery) => void
}

/**
 * What `subscribe` returns: call it to unsubscribe (as before); `ready` tells the server's answer
 * (docs/topics.md#waiting-for-the-confirmation).
 */
export interface TopicSubscription {
  (): void
  /**
   * Resolves once the server has confirmed the subscription (at once when this client already holds it):
   * messages published from then on reach the listener. Rejects with the refusal (`FORBIDDEN`,
   * `LIMIT_EXCEEDED`, `QUEUE_FULL`, …; `onError` hears it too) or `CLIENT_CLOSED`. Unsubscribing first
   * does not settle it: it still tells the server's answer. Not awaiting it is safe: a rejection nobody
   * waits for is not reported as unhandled.
   */
  readonly ready: Promise<void>
}

/** The outcome of renewing a subscription after a lost session. */
export interface TopicRecovery {
  /** True when every publication made while the session was lost is replayed: nothing was missed. */
  readonly recovered: boolean
  /**
   * How many publications were missed for good: 0 when recovered; the exact count when the server still
   * had the key's stream but not enough of its history; absent when it cannot be known (the stream's
   * epoch changed, or the server keeps no history).
   */
  readonly missed?: number
}

export type TopicProxy<T extends TopicMap> = {
  readonly [K in keyof T]: (
    key: string,
  ) => T[K]["presence"] extends AnySchema
    ? PresenceTopicHandle<TypeOf<T[K]["message"]>, TypeOf<T[K]["presence"]>>
    : TopicHandle<TypeOf<T[K]["message"]>>
}

/** One member of a topic key (docs/presence.md): a session subscribed to it, with its data. */
export interface PresenceMember<P> {
  /** The member's session id (`ctx.sessionId` on the server, `client.sessionId` on its client). */
  readonly id: string
  /** What the server's `presence` hook computed for it, of the topic's presence schema. */
  readonly data: P
}

/**
 * Join and leave listeners of one subscription (docs/presence.md). `join` first hears every member
 * already there, then each one who joins; after a lost session, the differences are told the same way.
 */
export interface PresenceListeners<P> {
  readonly join?: (member: PresenceMember<P>) => void
  readonly leave?: (member: PresenceMember<P>) => void
}

/** The handle of a key of a topic that declares presence. */
export interface PresenceTopicHandle<M, P> extends TopicHandle<M> {
  /**
   * As `TopicHandle.subscribe`; with `presence`, the listeners also hear who joins and leaves the key.
   *
   * @example
   * ```ts
   * // The contract's `lobby` topic declares presence data `{ name, since }`.
   * const online = new Map<string, string>() // member id → name
   * client.topics.lobby("main").subscribe(show, {
   *   presence: { join: (m) => online.set(m.id, m.data.name), leave: (m) => online.delete(m.id) },
   * })
   * ```
   */
  subscribe(
    listener: (message: M) => void,
    options?: SubscribeOptions & { readonly presence?: PresenceListeners<P> },
  ): TopicSubscription
  /**
   * The members of this key now, on every node. Allowed to whoever may subscribe to the key.
   *
   * @example
   * const members = await client.topics.lobby("main").presence() // [{ id, data: { name, since } }, …]
   */
  presence(): Promise<readonly PresenceMember<P>[]>
}

/** One key of a topic, from `client.topics.<name>(key)`: subscribe to its messages and publish to it. */
export interface TopicHandle<M> {
  /**
   * Calls `listener` with every message of this key, in order, from the moment the server confirms the
   * subscription. Returns the function that unsubscribes, whose `ready` promise settles with the
   * server's answer. When a session is lost, the subscription is
   * renewed in the new one and the messages published meanwhile are replayed (through `listener`, in
   * order, once each) as far as the server's topic history allows; `onRecover` says whether anything
   * was missed (docs/topics.md).
   *
   * @example
   * ```ts
   * declare function reloadRoom(): Promise<void> // the app's own: fetches what it shows afresh
   * const off = client.topics.room("lobby").subscribe((m) => show(m), {
   *   onRecover: ({ recovered }) => { if (!recovered) void reloadRoom() },
   * })
   * await off.ready // rejects with FORBIDDEN when canSubscribe refuses
   * ```
   */
  subscribe(listener: (message: M) => void, options?: SubscribeOptions): TopicSubscription
  /** Publishes to every subscriber of this key (including this client, when subscribed). */
  publish(message: M): Promise<void>
}

/**
 * `client.peers`: connections to other clients of the same server. Each carries the contract's `peers`
 * channels, directly over a WebRTC data channel when one can be made, else relayed by the server
 * (docs/peers.md).
 */
export interface Peers<P extends PeerMap> {
  /**
   * This session's public peer id: what another client passes to `connect`. Random, unrelated to the
   * session token; the same across resumes, new with a new session. `undefined` before the first
   * handshake, and when the server does not take peer connections.
   */
  readonly id: string | undefined
  /**
   * Opens a connection to the client whose peer id is `peerId`. Resolves once the server authorised it
   * and the other client accepted; rejects with `PEER_NOT_FOUND`, `PEER_FORBIDDEN`, `PEER_REJECTED`,
   * `LIMIT_EXCEEDED`, `PEER_CLOSED` (the session was lost meanwhile) or `CLIENT_CLOSED`.
   *
   * @example
   * ```ts
   * declare const otherId: string // the other client's `client.peers.id`, which the app passed on
   * // The contract's `cursor` channel carries `{ x, y, at }` (`at` a Date).
   * const conn = await client.peers.connect(otherId)
   * conn.channels.cursor.send({ x: 1, y: 2, at: new Date() })
   * ```
   */
  connect(peerId: string): Promise<PeerConnection<P>>
  /**
   * Hears connections other clients open to this one. Without a listener, incoming connections are
   * refused (`PEER_REJECTED`). Returns the function that removes the listener.
   */
  onConnection(listener: (connection: PeerConnection<P>) => void): () => void
}

/** How a peer connection carries its messages now: over a data channel, or through the server. */
export type PeerPath = "direct" | "relay"

/** The events of a peer connection, by name: `connection.on("path", (path) => …)`. */
export interface PeerConnectionEvents {
  /** The connection moved to `path` (from relay to direct when the data channel opened, or back). */
  path: (path: PeerPath) => void
  /** A message that could not be delivered or accepted (`INVALID_INPUT` from the server, say). */
  error: (error: SwitchyardError) => void
  /** The connection closed, for good: `PEER_CLOSED` (either side closed it) or the session's end. */
  close: (error: SwitchyardError) => void
}

/** One connection between two clients. Messages arrive in the order sent, once each, on either path. */
export interface PeerConnection<P extends PeerMap> {
  /** The connection's id, given by the server. */
  readonly id: number
  /** The other client's peer id. */
  readonly peerId: string
  readonly path: PeerPath
  readonly state: "open" | "closed"
  readonly channels: { readonly [K in keyof P]: PeerChannel<TypeOf<P[K]["message"]>> }
  on<K extends keyof PeerConnectionEvents>(event: K, listener: PeerConnectionEvents[K]): () => void
  /** Closes the connection on both sides. */
  close(): void
}

/** One channel of a peer connection, named by the contract's `peers`: send and receive its messages. */
export interface PeerChannel<M> {
  /**
   * Sends one message to the other client. Throws `INVALID_INPUT` when it breaks the contract,
   * `PEER_CLOSED` after the connection closed and `QUEUE_FULL` when too many wait for delivery.
   */
  send(message: M): void
  /**
   * Calls `listener` with every message of this channel from the other client. Messages that came before
   * the channel's first subscriber are handed to it at once, in order. Returns the unsubscribe.
   */
  subscribe(listener: (message: M) => void): () => void
}
