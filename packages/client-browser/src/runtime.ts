import {
  type AnyContract,
  type Client,
  type ClientEvents,
  type ClientState,
  type CompiledContract,
  type CompiledRpc,
  type CompiledStream,
  type CompiledTopic,
  type PresenceListeners,
  type RpcCallOptions,
  type ServerDataFrame,
  type StreamCallOptions,
  type SubscribeOptions,
  type SwitchyardError,
  switchyardError,
  type TopicSubscription,
  type TransportId,
  type UnreliableFrame,
} from "@switchyard/core"
import * as Frame from "@switchyard/core/frame-numbers"
import { Calls } from "./calls.ts"
import { Connection } from "./connection.ts"
import type { ConnectionEvents } from "./connectionEvents.ts"
import { featureKit } from "./featureKit.ts"
import { type ClientOptions, connectionSettings, type PeerModule, type PrepareContract } from "./options.ts"
import { type PresenceLoader, presenceLoader } from "./presenceLoader.ts"
import { deferredIterator, isPromiseLike, noop, report } from "./report.ts"
import type { Subscriptions } from "./subscriptions.ts"
import { closedError, oversize, queueFull, type Wire } from "./wire.ts"
import { withoutPeers } from "./withoutPeers.ts"

/**
 * One client: its state and events, and what happens when its session is lost. Calls, streams,
 * subscriptions and the connection (with its negotiation) are each their own module; this one wires
 * them together and builds the typed `Client`.
 *
 * Streams and subscriptions are loaded with `import()` when the app first opens a stream or subscribes,
 * so a page that only makes calls never loads them. While a module (or an Effect contract's codec) loads,
 * every operation made meanwhile waits for it, and they run in the order they were made.
 */
export class ClientRuntime implements Wire, ConnectionEvents {
  readonly client: Client<AnyContract>
  readonly #connection: Connection
  readonly #calls: Calls
  #subscriptions: Subscriptions | undefined
  readonly #presence: PresenceLoader
  readonly #peers: PeerModule
  readonly #listeners = new Map<keyof ClientEvents, Set<(...args: never[]) => void>>()
  /** The contract's codecs, once prepared; until then everything that touches a payload waits. */
  #compiled: CompiledContract | undefined
  /** Settles when the codecs are there (at once for a contract compiled synchronously). */
  #prepared: Promise<unknown> = Promise.resolve()
  /** What operations made now wait for (codecs, a feature's module), never rejecting; undefined when nothing. */
  #waiting: Promise<unknown> | undefined
  /** The error every operation fails with once the contract's codecs failed to load. */
  #failure: SwitchyardError | undefined
  /** Feature modules loading or loaded (a failed load is tried again on next use). */
  #loading: { streams?: Promise<void> | undefined; topics?: Promise<void> | undefined } = {}
  /** Why a feature's module is missing: the error of its last load. */
  #loadFailure: SwitchyardError | undefined
  #lastId = 0
  #transport: TransportId | undefined
  #state: ClientState = "connecting"
  #sessionId: string | undefined

  constructor(contract: AnyContract, options: ClientOptions, prepare: PrepareContract) {
    const self = this
    this.#peers = (options.peers ?? withoutPeers)({
      get compiled() {
        return self.#compiled as CompiledContract
      },
      get connected() {
        return self.#state === "connected"
      },
      send: (frameBody, payload) => {
        if (this.#state === "closed") return closedError()
        const refused = payload === undefined ? undefined : this.oversize(frameBody, payload)
        if (refused) return refused
        return this.send(Frame.PEER, frameBody) === 0 ? queueFull() : undefined
      },
    })
    this.#connection = new Connection(connectionSettings(options), this.#peers.accepts, this)
    this.#calls = new Calls(this)
    this.#presence = presenceLoader(this, () => this.#calls.pending)
    this.client = this.#buildClient(contract)
    const prepared = prepare(contract)
    if (isPromiseLike(prepared)) {
      // A failed load fails what waits for it with the error the client reports, not the loader's own.
      this.#prepared = Promise.resolve(prepared).then(
        (compiled) => {
          this.#compiled = compiled
        },
        (cause: unknown) => {
          const error = switchyardError("INTERNAL_ERROR", "the contract's codecs could not be loaded", { cause })
          this.#failure = error
          this.#emit("error", error)
          this.#close()
          throw error
        },
      )
      this.#wait(this.#prepared.catch(noop))
    } else this.#compiled = prepared
    this.#connection.start()
  }

  #buildClient(contract: AnyContract): Client<AnyContract> {
    const self = this
    const { rpc, streams, topics } = this.#channels(contract)
    return {
      rpc,
      streams,
      topics,
      peers: this.#peers.api,
      get transport() {
        return self.#transport
      },
      get state() {
        return self.#state
      },
      get sessionId() {
        return self.#sessionId
      },
      on: (event, listener) => {
        let set = this.#listeners.get(event)
        if (!set) {
          set = new Set()
          this.#listeners.set(event, set)
        }
        set.add(listener as (...args: never[]) => void)
        return () => set.delete(listener as (...args: never[]) => void)
      },
      reauthenticate: (credentials) =>
        this.#connection.loadCredentials().then((loaded) => loaded.reauthenticate(credentials)),
      close: async () => this.#close(),
    } as Client<AnyContract>
  }

  /**
   * `client.rpc`, `client.streams` and `client.topics`, by the contract's channel names. Each runs at
   * once when nothing is loading, else after what it waits for (`#after`).
   */
  #channels(contract: AnyContract) {
    const compiled = () => this.#compiled as CompiledContract
    const rpc: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.rpc)) {
      rpc[name] = (input: unknown, options?: RpcCallOptions) =>
        this.#after(() => this.#calls.call(name, compiled().rpc.get(name) as CompiledRpc, input, options))
    }
    const streams: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.streams)) {
      streams[name] = (input: unknown, options?: StreamCallOptions) => ({
        [Symbol.asyncIterator]: (): AsyncIterator<unknown> => {
          const open = () => {
            if (!this.#calls.streams) throw this.#loadFailure
            return this.#calls.streams.open(name, compiled().streams.get(name) as CompiledStream, input, options)
          }
          if (this.#waiting === undefined && this.#calls.streams) return open()
          this.#load("streams")
          return deferredIterator(this.#after(async () => open()))
        },
      })
    }
    const topics: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(contract.topics)) {
      topics[name] = (key: string) => ({
        subscribe: (listener: (m: unknown) => void, options?: SubscribeOptions & WithPresence) => {
          const off = this.#subscribe(compiled, name, key, listener, options)
          if (!options?.presence) return off
          const channel = this.#after(async () => compiled().topics.get(name))
          return Object.assign(this.#presence.watch(channel, key, options.presence, off), { ready: off.ready })
        },
        publish: (message: unknown) =>
          this.#after(() =>
            this.#calls.publish(name, key, (compiled().topics.get(name) as CompiledTopic).message, message),
          ),
        presence: () =>
          this.#after(async () => {
            const presence = await this.#presence.load()
            return presence.list(compiled().topics.get(name) as CompiledTopic, key)
          }),
      })
    }
    return { rpc, streams, topics }
  }

  /** Subscribes to a topic key, at once or once the topics module (or the codecs) are there. */
  #subscribe(
    compiled: () => CompiledContract,
    name: string,
    key: string,
    listener: (m: unknown) => void,
    options: SubscribeOptions | undefined,
  ): TopicSubscription {
    const subscribe = () => {
      if (!this.#subscriptions) throw this.#loadFailure
      return this.#subscriptions.subscribe(compiled().topics.get(name) as CompiledTopic, key, listener, options)
    }
    if (this.#waiting === undefined && this.#subscriptions) return subscribe()
    let unsubscribe: TopicSubscription | undefined
    let cancelled = false
    const closed = this.#state === "closed" && !this.#failure
    if (!closed) this.#load("topics")
    // Unsubscribed before the module came: nothing was sent, nothing to wait for.
    const start = async () => {
      if (cancelled) return
      unsubscribe = subscribe()
      return unsubscribe.ready
    }
    const ready = closed ? Promise.reject(closedError()) : this.#after(start)
    // A closed client, or a failed load, reaches the subscription as a refusal would: through its onError
    // (which a refusal has called already).
    ready.catch((error: SwitchyardError) => {
      if (!cancelled && !unsubscribe) options?.onError?.(error)
    })
    const off = () => {
      cancelled = true
      unsubscribe?.()
    }
    return Object.assign(off, { ready })
  }

  /**
   * Runs `operation` at once when nothing is loading; else once everything it waits for is there, after
   * the operations made before it. Rejects with the codecs' failure, or a feature's failed load.
   */
  #after<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure)
    if (this.#waiting === undefined) return operation()
    return this.#waiting.then(() => (this.#failure ? Promise.reject(this.#failure) : operation()))
  }

  /** Makes operations made from now on wait for `promise` too (which never rejects), behind what they waited for. */
  #wait(promise: Promise<unknown>): void {
    const waiting = this.#waiting ? Promise.all([this.#waiting, promise]) : promise
    this.#waiting = waiting
    void waiting.then(() => {
      if (this.#waiting === waiting) this.#waiting = undefined
    })
  }

  /** Loads a feature's module on its first use: what is made meanwhile waits for it. */
  #load(feature: "streams" | "topics"): void {
    if (this.#loading[feature]) return
    const loaded =
      feature === "streams"
        ? import("./streams.ts").then(({ Streams }) => {
            this.#calls.streams = new Streams(this, featureKit)
          })
        : import("./subscriptions.ts").then(({ Subscriptions }) => {
            this.#subscriptions = new Subscriptions(this, () => this.#calls.pending, featureKit)
          })
    const settled = loaded.catch((cause: unknown) => {
      this.#loading[feature] = undefined
      this.#loadFailure = switchyardError("INTERNAL_ERROR", `the client's ${feature} module could not be loaded`, {
        cause,
      })
      this.#emit("error", this.#loadFailure)
    })
    this.#loading[feature] = settled
    this.#wait(settled)
  }

  // --- Wire: what calls, streams and subscriptions use ---

  get closed(): boolean {
    return this.#state === "closed"
  }

  send(type: number, frameBody: string, force = false): number {
    return this.#state === "closed" ? 0 : this.#connection.session.send(type, frameBody, force)
  }

  oversize(frameBody: string, payload: string): SwitchyardError | undefined {
    return oversize(this.#connection.limits, frameBody, payload)
  }

  nextId(): number {
    return ++this.#lastId
  }

  error(error: SwitchyardError): void {
    this.#emit("error", error)
  }

  // --- State and events ---

  #emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    const set = this.#listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        ;(listener as unknown as (...a: Parameters<ClientEvents[K]>) => void)(...args)
      } catch (error) {
        report(error)
      }
    }
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return
    this.#state = state
    this.#emit("state", state)
  }

  // --- ConnectionEvents: what the connection tells the client ---

  ready(info: Parameters<ConnectionEvents["ready"]>[0]): void {
    const { sessionId, resumed, reason } = info
    const transport = info.transport.id
    this.#peers.id = info.peerId
    this.#transport = transport
    this.#sessionId = sessionId
    this.#setState("connected")
    // An upgrade or a reauthentication moves the session without a reconnect: no `session` event, only `transport`.
    if (reason !== "upgrade" && reason !== "reauthenticated")
      this.#emit("session", { id: sessionId, recovered: resumed })
    this.#emit("transport", transport, reason)
  }

  down(): void {
    this.#transport = undefined
    this.#setState("reconnecting")
  }

  /** The server lost the session: settle what may have reached it, keep what surely did not. */
  lost(error: SwitchyardError): void {
    this.#subscriptions?.lost()
    // Peer connections belong to the session: the other sides hear it end from the server.
    this.#peers.id = undefined
    this.#peers.endAll(switchyardError("PEER_CLOSED", `${error.message}; the peer connection closed`))
    // Frames above what was written to a link surely never reached the server.
    this.#calls.lost(error, this.#connection.session.written)
    this.#emit("error", error)
  }

  /** The new session is empty: what never left is sent again, watches and subscriptions renewed. */
  fresh(): void {
    this.#calls.fresh()
    this.#subscriptions?.fresh()
    this.#presence.fresh()
  }

  fatal(error: SwitchyardError): void {
    this.#emit("error", error)
    this.#shutdown(error)
  }

  data(frame: ServerDataFrame): void {
    switch (frame[0]) {
      case Frame.MESSAGE:
        return this.#subscriptions?.message(frame)
      case Frame.PRESENCE_EVENT:
        return this.#presence.event(frame)
      case Frame.PEER: {
        const [, , conn, op, data] = frame
        if (this.#compiled) return this.#peers.receive(conn, op, data)
        // Codecs still loading: the frame waits for them, behind any earlier one (a failed load closes the client).
        return void this.#prepared.then(
          () => this.data(frame),
          () => {},
        )
      }
      default:
        return this.#calls.answer(frame)
    }
  }

  /**
   * An UNRELIABLE frame: a stream item (4 elements) or a topic message (5). Each goes only to a stream or
   * subscription of that delivery, and only when newer than the last delivered there (docs/delivery.md).
   */
  unreliable(frame: UnreliableFrame): void {
    if (frame.length === 4) return this.#calls.streams?.latest(frame)
    this.#subscriptions?.unreliable(frame)
  }

  #close(): void {
    this.#connection.close()
    this.#shutdown(closedError())
  }

  /** Settles everything with `error` and stops for good. */
  #shutdown(error: SwitchyardError): void {
    if (this.#state === "closed") return
    this.#setState("closed")
    this.#transport = undefined
    this.#calls.shutdown(error)
    this.#subscriptions?.clear()
    this.#presence.clear()
    this.#peers.endAll(error)
  }
}

type WithPresence = { readonly presence?: PresenceListeners<unknown> }
