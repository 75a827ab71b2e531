import type {
  PeerConnection,
  PeerConnectionEvents,
  PeerMap,
  PeerPath,
  PresenceListeners,
  PresenceMember,
} from "@switchyard/core"
import {
  type AnyContract,
  type Client,
  type ClientCredentials,
  type ClientEvents,
  type ClientState,
  isErrorCode,
  type RpcCallOptions,
  type StreamCallOptions,
  SwitchyardError,
  switchyardError,
  type TopicSubscription,
  type TransportId,
} from "@switchyard/core"
import type { Page } from "playwright-core"

// ---------------------------------------------------------------------------------------------------
// The boundary protocol between Node and the page. Both sides import it (pageClient.ts is bundled for
// the page), so it must stay free of Node APIs.
// ---------------------------------------------------------------------------------------------------

/**
 * A value as it crosses the page boundary. Dates and bytes are tagged explicitly (Playwright would carry
 * them too, but the suite's point is that they round-trip, so nothing is left to a serializer's whims);
 * every container is tagged so no user key can be mistaken for a tag.
 */
export type Wire =
  | readonly ["d", number]
  | readonly ["b", readonly number[]]
  | readonly ["a", readonly Wire[]]
  | readonly ["o", { readonly [key: string]: Wire }]
  | readonly ["v", string | number | boolean | null | undefined]

export function toWire(value: unknown): Wire {
  if (value instanceof Date) return ["d", value.getTime()]
  if (value instanceof Uint8Array) return ["b", Array.from(value)]
  if (Array.isArray(value)) return ["a", value.map(toWire)]
  if (value !== null && typeof value === "object") {
    return ["o", Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]))]
  }
  if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
    throw new TypeError(`a ${typeof value} cannot cross the page boundary`)
  }
  return ["v", value as string | number | boolean | null | undefined]
}

export function fromWire(wire: Wire): unknown {
  switch (wire[0]) {
    case "d":
      return new Date(wire[1])
    case "b":
      return Uint8Array.from(wire[1])
    case "a":
      return wire[1].map(fromWire)
    case "o":
      // fromEntries defines keys, so a "__proto__" key stays a key.
      return Object.fromEntries(Object.entries(wire[1]).map(([k, v]) => [k, fromWire(v)]))
    case "v":
      return wire[1]
  }
}

/** An error as it crosses the boundary; `code` is undefined for anything that is not a SwitchyardError. */
export interface WireError {
  readonly code: string | undefined
  readonly message: string
  readonly data: Wire
}

export function errorToWire(error: unknown): WireError {
  if (error instanceof SwitchyardError) return { code: error.code, message: error.message, data: toWire(error.data) }
  return {
    code: undefined,
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    data: ["v", undefined],
  }
}

/** Rebuilds the error on the Node side, of the class the code's layer picks (as the real client does). */
export function errorFromWire(error: WireError): Error {
  if (!isErrorCode(error.code)) return new Error(`in the page: ${error.message}`)
  const data = fromWire(error.data)
  return switchyardError(error.code, error.message, data === undefined ? undefined : { data })
}

/** The client's observable state in the page; `n` orders snapshots taken anywhere in the page. */
export interface Snapshot {
  readonly n: number
  readonly state: ClientState
  readonly transport: TransportId | null
  readonly sessionId: string | null
  readonly peerId: string | null
}

export type Outcome =
  | { readonly ok: true; readonly value: Wire; readonly done: boolean; readonly snap: Snapshot }
  | { readonly ok: false; readonly error: WireError; readonly snap: Snapshot }

/** What the page tells Node without being asked, in order. */
export type Push =
  | {
      readonly kind: "event"
      readonly client: number
      readonly snap: Snapshot
      readonly event: "state" | "transport" | "session"
      readonly args: Wire
    }
  | { readonly kind: "error"; readonly client: number; readonly snap: Snapshot; readonly error: WireError }
  | { readonly kind: "message"; readonly sub: number; readonly value: Wire }
  | { readonly kind: "refused"; readonly sub: number; readonly error: WireError }
  /** A join or leave heard by a subscription that asked for them (docs/presence.md). */
  | { readonly kind: "presence"; readonly sub: number; readonly event: "join" | "leave"; readonly member: Wire }
  /** A peer connection another client opened to this one; `conn` is the handle the page chose (negative). */
  | { readonly kind: "peer"; readonly client: number; readonly conn: number; readonly info: PeerInfoWire }
  | {
      readonly kind: "peerEvent"
      readonly conn: number
      readonly event: "path" | "close" | "error"
      readonly args: Wire
    }

/** A peer connection as it crosses the boundary. */
export interface PeerInfoWire {
  readonly id: number
  readonly peerId: string
  readonly path: PeerPath
}

export type PeerOutcome =
  | { readonly ok: true; readonly info: PeerInfoWire }
  | { readonly ok: false; readonly error: WireError }

/** How an rpc or stream's AbortSignal looks from the page when the call starts. */
export type SignalState = "none" | "live" | "aborted"

/** The options of `createClient` that can cross the boundary (platform constructors are the page's). */
export interface RemoteClientOptions {
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number }
  readonly connectTimeoutMs?: number
  /** Transports by id; the page's own WebSocket, EventSource, fetch and RTCPeerConnection are used. */
  readonly transports?: ReadonlyArray<"websocket" | "sse" | "long-polling" | "polling" | "webrtc">
  /** `webrtcTransport` options, for `"webrtc"` in `transports`. */
  readonly webrtc?: { readonly iceTransportPolicy?: "all" | "relay" }
  /** `client.peers` options; the page's own RTCPeerConnection is used. */
  readonly peers?: { readonly direct?: boolean; readonly directTimeoutMs?: number }
  /** The `auth` option, as credentials (a function cannot cross the boundary). */
  readonly auth?: ClientCredentials
}

/** The driver pageClient.ts installs on the page's `globalThis.switchyard`. Ids are chosen by Node. */
export interface PageDriver {
  create(client: number, url: string, options: RemoteClientOptions): Snapshot
  call(client: number, call: number, name: string, input: Wire, signal: SignalState): Promise<Outcome>
  abort(call: number): void
  open(client: number, stream: number, name: string, input: Wire, window: number | null, signal: SignalState): void
  next(client: number, stream: number): Promise<Outcome>
  cancel(stream: number): Promise<void>
  abortStream(stream: number): void
  /** `presence`: the subscription asks for joins and leaves. Settles as its `ready` does. */
  subscribe(client: number, sub: number, topic: string, key: string, presence: boolean): Promise<Outcome>
  unsubscribe(sub: number): void
  publish(client: number, topic: string, key: string, message: Wire): Promise<Outcome>
  /** `client.topics[topic](key).presence()`. */
  presence(client: number, topic: string, key: string): Promise<Outcome>
  close(client: number): Promise<Snapshot>
  /** `client.reauthenticate(credentials)`. */
  reauthenticate(client: number, credentials: ClientCredentials | null): Promise<Outcome>
  /** `client.peers.connect`; `conn` is the handle Node chose for the connection. */
  peerConnect(client: number, conn: number, peerId: string): Promise<PeerOutcome>
  /** Starts (or stops) pushing the connections other clients open to this one. */
  peerListen(client: number, on: boolean): void
  /** Sends one message; a refusal comes back as a WireError. */
  peerSend(conn: number, channel: string, message: Wire): WireError | null
  peerSubscribe(conn: number, sub: number, channel: string): void
  peerClose(conn: number): void
}

/** The name of the function Node exposes to the page: `(seq, batch) => void`, seq counting from 1. */
export const pushBinding = "__switchyardPush"

// ---------------------------------------------------------------------------------------------------
// The Node side.
// ---------------------------------------------------------------------------------------------------

interface RemoteSubscription {
  readonly listener: (message: unknown) => void
  readonly onError: ((error: SwitchyardError) => void) | undefined
  readonly presence?: PresenceListeners<unknown> | undefined
}

/** Each page with the push binding, and the driver its pushes go to (none between two loads). */
const receivers = new WeakMap<Page, RemotePage | undefined>()

/**
 * A page running the Switchyard client (see pageClient.ts), seen from Node: it makes clients whose every
 * operation runs in the page, and routes what the page pushes back to them in the order it was sent.
 */
export class RemotePage {
  private nextId = 1
  private delivered = 0
  private readonly early = new Map<number, readonly Push[]>()
  private readonly clients = new Map<number, RemoteClient>()
  private readonly subscriptions = new Map<number, RemoteSubscription>()
  /** Peer connections by handle; events for a handle not registered yet wait in `earlyPeerEvents`. */
  private readonly peerConns = new Map<number, RemotePeerConn>()
  private readonly earlyPeerEvents = new Map<number, Array<Extract<Push, { kind: "peerEvent" }>>>()
  private closing = false
  /** Failures of the harness itself (page errors, failed pushes); the fixture reports them on close. */
  readonly defects: unknown[] = []

  private readonly onPageError = (error: Error) => this.defect(error)

  private constructor(
    readonly page: Page,
    private readonly pooled: boolean,
  ) {}

  /**
   * Exposes the push binding, loads `url` (which must load the page bundle) and returns the driver.
   * `pooled`: the page is borrowed (chromium.ts `borrowPage`): its binding, exposed once for the page's
   * life, delivers to the RemotePage that loaded it last, and {@link close} leaves the page open for its
   * owner to give back.
   */
  static async open(page: Page, url: string, options: { readonly pooled?: boolean } = {}): Promise<RemotePage> {
    const remote = new RemotePage(page, options.pooled === true)
    if (!receivers.has(page)) {
      await page.exposeFunction(pushBinding, (seq: number, batch: readonly Push[]) =>
        receivers.get(page)?.receive(seq, batch),
      )
      receivers.set(page, undefined)
    }
    page.on("pageerror", remote.onPageError)
    try {
      await page.goto(url)
    } catch (error) {
      page.off("pageerror", remote.onPageError)
      throw error
    }
    // Set once loaded: the page pushes only in answer to operations, which start after this returns, and
    // nothing the realm before it pushed late can reach this driver.
    receivers.set(page, remote)
    return remote
  }

  /**
   * A client in the page, connecting to `url`; like `createClient`, it returns at once. `contract` names
   * the channels; the page's client is always made with the contract pageClient.ts bundles.
   */
  createClient<C extends AnyContract>(contract: C, url: string, options: RemoteClientOptions = {}): Client<C> {
    const id = this.id()
    const remote = new RemoteClient(this, id, contract, this.op("create", id, url, options))
    this.clients.set(id, remote)
    return remote.client as Client<C>
  }

  /**
   * Closes the page (a pooled one is left open for its owner to give back, and its pushes no longer reach
   * this driver); later operations reject with `CLIENT_CLOSED`.
   */
  async close(): Promise<void> {
    this.closing = true
    this.page.off("pageerror", this.onPageError)
    if (receivers.get(this.page) === this) receivers.set(this.page, undefined)
    if (!this.pooled) await this.page.close()
  }

  id(): number {
    return this.nextId++
  }

  /** Runs one driver operation in the page. */
  op<K extends keyof PageDriver>(
    name: K,
    ...args: Parameters<PageDriver[K]>
  ): Promise<Awaited<ReturnType<PageDriver[K]>>> {
    if (this.closing) return Promise.reject(switchyardError("CLIENT_CLOSED", "the page is closed"))
    return this.page
      .evaluate(
        ([op, a]) => {
          const driver = (globalThis as unknown as { switchyard: Record<string, (...x: unknown[]) => unknown> })
            .switchyard
          return driver[op]?.(...a)
        },
        [name, args] as [string, unknown[]],
      )
      .catch((error: unknown) => {
        throw this.closing ? switchyardError("CLIENT_CLOSED", "the page is closed", { cause: error }) : error
      }) as Promise<Awaited<ReturnType<PageDriver[K]>>>
  }

  /** An operation nobody awaits: its failure is a defect of the harness, unless the page is closing. */
  fire(operation: Promise<unknown>): void {
    operation.catch((error: unknown) => this.defect(error))
  }

  defect(error: unknown): void {
    if (!this.closing) this.defects.push(error)
  }

  subscribe(id: number, subscription: RemoteSubscription): void {
    this.subscriptions.set(id, subscription)
  }

  unsubscribe(id: number): boolean {
    return this.subscriptions.delete(id)
  }

  registerPeer(conn: RemotePeerConn): void {
    this.peerConns.set(conn.handle, conn)
    for (const push of this.earlyPeerEvents.get(conn.handle) ?? []) conn.event(push.event, fromWire(push.args))
    this.earlyPeerEvents.delete(conn.handle)
  }

  /**
   * Pushes arrive as binding calls; Playwright dispatches them in order today, but nothing promises it,
   * so batches carry a sequence number and are delivered strictly in that order.
   */
  private receive(seq: number, batch: readonly Push[]): void {
    this.early.set(seq, batch)
    for (let next = this.early.get(this.delivered + 1); next; next = this.early.get(this.delivered + 1)) {
      this.early.delete(++this.delivered)
      for (const push of next) {
        try {
          this.deliver(push)
        } catch (error) {
          this.defect(error)
        }
      }
    }
  }

  private deliver(push: Push): void {
    switch (push.kind) {
      case "message": {
        const sub = this.subscriptions.get(push.sub)
        if (!sub) return
        try {
          sub.listener(fromWire(push.value))
        } catch (error) {
          // As the real client does: a throwing listener is reported and the others still run.
          console.error(error)
        }
        return
      }
      case "presence": {
        const listener = this.subscriptions.get(push.sub)?.presence?.[push.event]
        listener?.(fromWire(push.member) as PresenceMember<unknown>)
        return
      }
      case "refused": {
        const sub = this.subscriptions.get(push.sub)
        if (!sub) return
        this.subscriptions.delete(push.sub)
        sub.onError?.(errorFromWire(push.error) as SwitchyardError)
        return
      }
      case "event":
        return this.clients.get(push.client)?.event(push.snap, push.event, fromWire(push.args) as unknown[])
      case "error":
        return this.clients.get(push.client)?.event(push.snap, "error", [errorFromWire(push.error)])
      case "peer":
        return this.clients.get(push.client)?.incoming(push.conn, push.info)
      case "peerEvent": {
        const conn = this.peerConns.get(push.conn)
        if (conn) return conn.event(push.event, fromWire(push.args))
        const early = this.earlyPeerEvents.get(push.conn) ?? []
        early.push(push)
        this.earlyPeerEvents.set(push.conn, early)
      }
    }
  }
}

/** One client in the page; `client` is its `Client<C>` face in Node, with state mirrored from the page. */
class RemoteClient {
  readonly client: Client<AnyContract>
  private snap: Snapshot = { n: 0, state: "connecting", transport: null, sessionId: null, peerId: null }
  private readonly peerListeners = new Set<(connection: PeerConnection<PeerMap>) => void>()
  private readonly listeners = new Map<keyof ClientEvents, Set<(...args: never[]) => void>>()
  /** Every operation waits for the client to exist in the page, so none can overtake `create`. */
  private readonly created: Promise<void>

  constructor(
    private readonly page: RemotePage,
    private readonly id: number,
    private readonly contract: AnyContract,
    create: Promise<Snapshot>,
  ) {
    this.created = create.then((snap) => this.mirror(snap))
    page.fire(this.created)
    this.client = this.build(contract)
  }

  private build(contract: AnyContract): Client<AnyContract> {
    const self = this
    const rpc: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.rpc)) {
      rpc[name] = (input: unknown, options?: RpcCallOptions) => this.call(name, input, options)
    }
    const streams: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.streams)) {
      streams[name] = (input: unknown, options?: StreamCallOptions) => ({
        [Symbol.asyncIterator]: () => this.openStream(name, input, options),
      })
    }
    const topics: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.topics)) {
      topics[name] = (key: string) => ({
        subscribe: (
          listener: (m: unknown) => void,
          opts?: { onError?: (e: SwitchyardError) => void; presence?: PresenceListeners<unknown> },
        ) => this.subscribe(name, key, listener, opts?.onError, opts?.presence),
        publish: async (message: unknown) => {
          await this.created
          this.settle(await this.page.op("publish", this.id, name, key, toWire(message)))
        },
        presence: async () => {
          await this.created
          return this.settle(await this.page.op("presence", this.id, name, key))
        },
      })
    }
    const peers = {
      get id() {
        return self.snap.peerId ?? undefined
      },
      connect: async (peerId: string) => {
        const handle = this.page.id()
        await this.created
        const outcome = await this.page.op("peerConnect", this.id, handle, peerId)
        if (!outcome.ok) throw errorFromWire(outcome.error)
        return new RemotePeerConn(this.page, handle, contract, outcome.info).api
      },
      onConnection: (listener: (connection: PeerConnection<PeerMap>) => void) => {
        this.peerListeners.add(listener)
        if (this.peerListeners.size === 1)
          this.page.fire(this.created.then(() => this.page.op("peerListen", this.id, true)))
        return () => {
          if (this.peerListeners.delete(listener) && this.peerListeners.size === 0) {
            this.page.fire(this.created.then(() => this.page.op("peerListen", this.id, false)))
          }
        }
      },
    }
    return {
      rpc,
      streams,
      topics,
      peers,
      get transport() {
        return self.snap.transport ?? undefined
      },
      get state() {
        return self.snap.state
      },
      get sessionId() {
        return self.snap.sessionId ?? undefined
      },
      on: (event, listener) => {
        const set = this.listeners.get(event) ?? new Set()
        this.listeners.set(event, set)
        set.add(listener as (...args: never[]) => void)
        return () => set.delete(listener as (...args: never[]) => void)
      },
      reauthenticate: async (credentials?: ClientCredentials) => {
        await this.created
        this.settle(await this.page.op("reauthenticate", this.id, credentials ?? null))
      },
      close: async () => {
        await this.created
        this.mirror(await this.page.op("close", this.id))
      },
    } as Client<AnyContract>
  }

  /** Takes a snapshot from the page unless a newer one is already in. */
  private mirror(snap: Snapshot): void {
    if (snap.n > this.snap.n) this.snap = snap
  }

  /** Unwraps an outcome: mirrors its snapshot, returns its value or throws its error. */
  private settle(outcome: Outcome): unknown {
    this.mirror(outcome.snap)
    if (!outcome.ok) throw errorFromWire(outcome.error)
    return fromWire(outcome.value)
  }

  /** A connection another client opened to this one, accepted in the page. */
  incoming(handle: number, info: PeerInfoWire): void {
    const conn = new RemotePeerConn(this.page, handle, this.contract, info)
    for (const listener of [...this.peerListeners]) {
      try {
        listener(conn.api)
      } catch (error) {
        console.error(error)
      }
    }
  }

  event(snap: Snapshot, event: keyof ClientEvents, args: readonly unknown[]): void {
    this.mirror(snap)
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        ;(listener as (...a: readonly unknown[]) => void)(...args)
      } catch (error) {
        console.error(error)
      }
    }
  }

  private async call(name: string, input: unknown, options: RpcCallOptions | undefined): Promise<unknown> {
    const wire = toWire(input)
    const signal = options?.signal
    const callId = this.page.id()
    await this.created
    if (!signal) return this.settle(await this.page.op("call", this.id, callId, name, wire, "none"))
    // The abort may reach the page before the call does; the page keeps it until the call arrives.
    const onAbort = () => this.page.fire(this.page.op("abort", callId))
    signal.addEventListener("abort", onAbort, { once: true })
    try {
      return this.settle(await this.page.op("call", this.id, callId, name, wire, signal.aborted ? "aborted" : "live"))
    } finally {
      signal.removeEventListener("abort", onAbort)
    }
  }

  private openStream(name: string, input: unknown, options: StreamCallOptions | undefined): AsyncIterator<unknown> {
    const streamId = this.page.id()
    const signal = options?.signal
    const state: SignalState = !signal ? "none" : signal.aborted ? "aborted" : "live"
    const opened = this.created.then(() =>
      this.page.op("open", this.id, streamId, name, toWire(input), options?.window ?? null, state),
    )
    // A failed open surfaces on the first `next`; until then it must not count as unhandled.
    opened.catch(() => {})
    signal?.addEventListener("abort", () => this.page.fire(opened.then(() => this.page.op("abortStream", streamId))), {
      once: true,
    })
    return {
      next: async () => {
        await opened
        const outcome = await this.page.op("next", this.id, streamId)
        const value = this.settle(outcome)
        return outcome.ok && outcome.done ? { done: true, value: undefined } : { done: false, value }
      },
      return: async () => {
        // A stream that never opened has nothing to cancel; its failure is for `next` to report.
        const open = await opened.then(
          () => true,
          () => false,
        )
        if (open) await this.page.op("cancel", streamId)
        return { done: true, value: undefined }
      },
    }
  }

  private subscribe(
    topic: string,
    key: string,
    listener: (m: unknown) => void,
    onError: ((e: SwitchyardError) => void) | undefined,
    presence?: PresenceListeners<unknown>,
  ): TopicSubscription {
    const subId = this.page.id()
    this.page.subscribe(subId, { listener, onError, presence })
    const answered = this.created.then(() =>
      this.page.op("subscribe", this.id, subId, topic, key, presence !== undefined),
    )
    this.page.fire(answered)
    const ready = answered.then((outcome) => void this.settle(outcome))
    // As the real client's: a rejection nobody awaits is not unhandled.
    ready.catch(() => {})
    // Node stops delivering at once, as the real client does; the page unsubscribes when it hears.
    const off = () => {
      if (this.page.unsubscribe(subId)) this.page.fire(this.created.then(() => this.page.op("unsubscribe", subId)))
    }
    return Object.assign(off, { ready })
  }
}

/**
 * A peer connection of a client in the page, seen from Node. Sends are fired at the page in order (a
 * refusal there is a defect of the test, as the real `send` would have thrown); `path` and `state`
 * follow the events the page pushes.
 */
class RemotePeerConn {
  readonly api: PeerConnection<PeerMap>
  private path: PeerPath
  private state: "open" | "closed" = "open"
  private readonly listeners = new Map<keyof PeerConnectionEvents, Set<(...args: never[]) => void>>()

  constructor(
    page: RemotePage,
    readonly handle: number,
    contract: AnyContract,
    info: PeerInfoWire,
  ) {
    const self = this
    this.path = info.path
    const channels: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.peers)) {
      channels[name] = {
        send: (message: unknown) =>
          page.fire(
            page.op("peerSend", handle, name, toWire(message)).then((refused) => {
              if (refused) throw errorFromWire(refused)
            }),
          ),
        subscribe: (listener: (m: unknown) => void) => {
          const sub = page.id()
          page.subscribe(sub, { listener, onError: undefined })
          page.fire(page.op("peerSubscribe", handle, sub, name))
          return () => void page.unsubscribe(sub)
        },
      }
    }
    this.api = {
      id: info.id,
      peerId: info.peerId,
      channels: channels as PeerConnection<PeerMap>["channels"],
      get path() {
        return self.path
      },
      get state() {
        return self.state
      },
      on: (event, listener) => {
        const set = this.listeners.get(event) ?? new Set()
        this.listeners.set(event, set)
        set.add(listener as (...args: never[]) => void)
        return () => set.delete(listener as (...args: never[]) => void)
      },
      close: () => page.fire(page.op("peerClose", handle)),
    }
    page.registerPeer(this)
  }

  event(event: keyof PeerConnectionEvents, value: unknown): void {
    if (event === "path") this.path = value as PeerPath
    if (event === "close") this.state = "closed"
    const arg = event === "path" ? value : errorFromWire(value as WireError)
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        ;(listener as (a: unknown) => void)(arg)
      } catch (error) {
        console.error(error)
      }
    }
  }
}
