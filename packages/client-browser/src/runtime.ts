import {
  type AnyContract,
  type Client,
  type ClientEvents,
  type ClientState,
  type CompiledContract,
  type CompiledTopic,
  clientBody,
  FrameType,
  type PayloadCodec,
  type PresenceListeners,
  presenceBody,
  type RpcCallOptions,
  type ServerDataFrame,
  type StreamCallOptions,
  type SubscribeOptions,
  type SwitchyardError,
  switchyardError,
  type TransportId,
  type UnreliableFrame,
} from "@switchyard/core"
import { Calls } from "./calls.ts"
import { Connection } from "./connection.ts"
import type { TransportReason } from "./connectionEvents.ts"
import { type Channels, waitingChannels } from "./deferred.ts"
import {
  type ClientOptions,
  connectionSettings,
  type PeerHost,
  type PeerModule,
  type PrepareContract,
} from "./options.ts"
import type { ClientPresence } from "./presence.ts"
import { report } from "./report.ts"
import { openStream } from "./streams.ts"
import { Subscriptions } from "./subscriptions.ts"
import { closedError, oversize, queueFull, type Wire } from "./wire.ts"

/**
 * One client: its state and events, and what happens when its session is lost. Calls, streams,
 * subscriptions and the connection (with its negotiation) are each their own module; this one wires
 * them together and builds the typed `Client`.
 */
export class ClientRuntime implements Wire {
  readonly client: Client<AnyContract>
  readonly #connection: Connection
  readonly #calls: Calls
  readonly #subscriptions: Subscriptions
  readonly #peers: PeerModule
  readonly #listeners = new Map<keyof ClientEvents, Set<(...args: never[]) => void>>()
  /** The contract's codecs, once prepared; until then everything that touches a payload waits. */
  #compiled: CompiledContract | undefined
  /** Settles when the codecs are there (at once for a contract compiled synchronously). */
  #prepared: Promise<unknown> = Promise.resolve()
  #lastId = 0
  #transport: TransportId | undefined
  #state: ClientState = "connecting"
  #sessionId: string | undefined
  /** Presence (docs/presence.md), loaded on first use: most apps never load it. */
  #presence: ClientPresence | undefined
  #presenceLoading: Promise<ClientPresence> | undefined

  constructor(contract: AnyContract, options: ClientOptions, prepare: PrepareContract) {
    const self = this
    this.#peers = (options.peers ?? withoutPeers)({
      get compiled() {
        return self.#compiled as CompiledContract
      },
      send: (frameBody, payload) => {
        if (this.#state === "closed") return closedError()
        const refused = payload === undefined ? undefined : this.oversize(frameBody, payload)
        if (refused) return refused
        return this.send(FrameType.PEER, frameBody) === 0 ? queueFull() : undefined
      },
    })
    this.#connection = new Connection(connectionSettings(options), this.#peers.accepts, {
      ready: (info) => {
        this.#peers.id = info.peerId
        this.#ready(info.transport.id, info.sessionId, info.resumed, info.reason)
      },
      data: (frame) => this.#data(frame),
      unreliable: (frame) => this.#unreliable(frame),
      down: () => {
        this.#transport = undefined
        this.#setState("reconnecting")
      },
      lost: (error) => this.#lost(error),
      fresh: () => {
        this.#calls.fresh()
        this.#subscriptions.fresh()
        this.#presence?.fresh()
      },
      notice: (error) => this.#emit("error", error),
      fatal: (error) => {
        this.#emit("error", error)
        this.#shutdown(error)
      },
    })
    this.#calls = new Calls(this)
    this.#subscriptions = new Subscriptions(this, this.#calls)
    const prepared = prepare(contract)
    if (isPromiseLike(prepared)) {
      // A failed load fails what waits for it with the error the client reports, not the loader's own.
      const ready = Promise.resolve(prepared).then(
        (compiled) => {
          this.#compiled = compiled
          return this.#channels(compiled)
        },
        (cause: unknown) => {
          throw switchyardError("INTERNAL_ERROR", "the contract's codecs could not be loaded", { cause })
        },
      )
      this.#prepared = ready
      this.client = this.#buildClient(waitingChannels(contract, ready))
      ready.catch((error: SwitchyardError) => {
        this.#emit("error", error)
        this.#close()
      })
    } else {
      this.#compiled = prepared
      this.client = this.#buildClient(this.#channels(prepared))
    }
    this.#connection.start()
  }

  #buildClient({ rpc, streams, topics }: Channels): Client<AnyContract> {
    const self = this
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
      close: async () => this.#close(),
    } as Client<AnyContract>
  }

  /** `client.rpc`, `client.streams` and `client.topics` over the contract's codecs. */
  #channels(compiled: CompiledContract): Channels {
    const rpc: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of compiled.rpc) {
      rpc[name] = (input: unknown, options?: RpcCallOptions) => this.#calls.call(name, channel, input, options)
    }
    const streams: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of compiled.streams) {
      streams[name] = (input: unknown, options?: StreamCallOptions) => ({
        [Symbol.asyncIterator]: () => openStream(this, this.#calls, name, channel, input, options),
      })
    }
    const topics: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of compiled.topics) {
      topics[name] = (key: string) => ({
        subscribe: (listener: (m: unknown) => void, opts?: SubscribeOptions & WithPresence) => {
          const off = this.#subscriptions.subscribe(channel, key, listener, opts)
          return opts?.presence && channel.presence ? this.#watch(channel, key, opts.presence, off) : off
        },
        publish: (message: unknown) => this.#calls.publish(name, key, channel.message, message),
        presence: () => this.#loadPresence().then((presence) => presence.list(channel, key)),
      })
    }
    return { rpc, streams, topics }
  }

  #loadPresence(): Promise<ClientPresence> {
    this.#presenceLoading ??= import("./presence.ts").then(
      ({ ClientPresence }) =>
        (this.#presence = new ClientPresence({
          request: (topic, key, watch, resolve, reject) => {
            if (this.closed) return reject(closedError())
            const id = this.nextId()
            const frameBody = presenceBody(id, topic, key, watch)
            const seq = this.send(FrameType.PRESENCE, frameBody)
            if (seq === 0) return reject(queueFull())
            // A watch of a lost session is dropped (presence sends it again); a list settles as a call.
            const kind = watch ? "subscribe" : "rpc"
            const output = passThrough
            this.#calls.pending.set({
              id,
              kind,
              seq,
              frameType: FrameType.PRESENCE,
              frameBody,
              output,
              error: undefined,
              resolve,
              reject,
            })
          },
          invalid: (topic, why) => switchyardError("INVALID_OUTPUT", `topic ${topic}: invalid presence data: ${why}`),
          error: (error) => this.error(error),
          report,
        })),
    )
    return this.#presenceLoading
  }

  /** Adds join/leave listeners to a subscription, once presence is loaded; `off` ends both. */
  #watch(channel: CompiledTopic, key: string, listeners: PresenceListeners<unknown>, off: () => void): () => void {
    let stop: (() => void) | undefined
    let ended = false
    this.#loadPresence().then((presence) => {
      if (!ended && !this.closed) stop = presence.watch(channel, key, listeners)
    }, report)
    return () => {
      ended = true
      stop?.()
      off()
    }
  }

  // --- Wire: what calls, streams and subscriptions use ---

  get closed(): boolean {
    return this.#state === "closed"
  }

  send(type: number, frameBody: string, force = false): number {
    return this.#state === "closed" ? 0 : this.#connection.send(type, frameBody, force)
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

  #ready(transport: TransportId, sessionId: string, resumed: boolean, reason: TransportReason): void {
    this.#transport = transport
    this.#sessionId = sessionId
    this.#setState("connected")
    // An upgrade moves the session without a reconnect: no `session` event, only `transport`.
    if (reason !== "upgrade") this.#emit("session", { id: sessionId, recovered: resumed })
    this.#emit("transport", transport, reason)
  }

  /** The server lost the session: settle what may have reached it, keep what surely did not. */
  #lost(error: SwitchyardError): void {
    this.#subscriptions.lost()
    // Peer connections belong to the session: the other sides hear it end from the server.
    this.#peers.id = undefined
    this.#peers.endAll(switchyardError("PEER_CLOSED", `${error.message}; the peer connection closed`))
    this.#calls.lost(error, this.#connection.written)
    this.#emit("error", error)
  }

  #data(frame: ServerDataFrame): void {
    switch (frame[0]) {
      case FrameType.MESSAGE:
        return this.#subscriptions.message(frame)
      case FrameType.PRESENCE_EVENT:
        return this.#presence?.event(frame)
      case FrameType.PEER: {
        const [, , conn, op, data] = frame
        if (this.#compiled) return this.#peers.receive(conn, op, data)
        // Codecs still loading: the frame waits for them, behind any earlier one (a failed load closes the client).
        return void this.#prepared.then(
          () => this.#data(frame),
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
  #unreliable(frame: UnreliableFrame): void {
    if (frame.length === 4) return this.#calls.streams.get(frame[2])?.latest(frame[1], frame[3])
    this.#subscriptions.unreliable(frame)
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
    this.#subscriptions.clear()
    this.#presence?.clear()
    this.#peers.endAll(error)
  }
}

/** `client.peers` of a client made without `peers()`: connects fail, incoming connections are turned down. */
function withoutPeers(host: PeerHost): PeerModule {
  const missing = () =>
    new TypeError("switchyard: client.peers needs `peers: peers()` (from @switchyard/client-browser/peers)")
  const module: PeerModule = {
    id: undefined,
    api: {
      get id() {
        return module.id
      },
      connect: () => Promise.reject(missing()),
      onConnection: () => {
        throw missing()
      },
    },
    receive(conn, op) {
      if (op === "incoming") host.send(clientBody.peer(conn, "reject", JSON.stringify("no listener for connections")))
      else if (op === "open") host.send(clientBody.peer(conn, "close", JSON.stringify("nobody is waiting")))
    },
    // Only the op is read, to turn the connection down: the data may be anything.
    accepts: (op) => typeof op === "string",
    endAll() {},
  }
  return module
}

type WithPresence = { readonly presence?: PresenceListeners<unknown> }

/** A request's output as it came: presence checks its own. */
const passThrough: PayloadCodec = { decode: (value) => ({ ok: true, value }), encode: (value) => ({ ok: true, value }) }

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === "function"
}
