import {
  type AnyContract,
  body,
  type Client,
  type ClientEvents,
  type ClientState,
  type ClientTransport,
  type CompiledContract,
  compileContract,
  type Delivery,
  defaultSessionOptions,
  exceedsBytes,
  exceedsDepth,
  FrameType,
  isSubscribed,
  type PayloadCodec,
  type RpcCallOptions,
  type ServerDataFrame,
  type StreamCallOptions,
  type Subscribed,
  type SwitchyardError,
  switchyardError,
  type TopicHandle,
  type TopicPosition,
  type TransportId,
  type UnreliableFrame,
} from "@switchyard/core"
import type { ClientOptions } from "./client.ts"
import { Connection, type TransportReason } from "./connection.ts"
import { transportStore } from "./memory.ts"
import { encodeInput, noop, remoteError, report } from "./payloads.ts"
import { PeerManager } from "./peers.ts"
import { StreamConsumer } from "./streamConsumer.ts"
import type { FetchLike } from "./transports/http.ts"
import { longPollingTransport } from "./transports/longPolling.ts"
import { pollingTransport } from "./transports/polling.ts"
import { sseTransport } from "./transports/sse.ts"
import { websocketTransport } from "./transports/websocket.ts"

interface Pending {
  readonly id: number
  readonly kind: "rpc" | "subscribe" | "publish"
  /** Sequence number of its frame in the current session: above `session.written`, it never left. */
  seq: number
  readonly frameType: number
  readonly frameBody: string
  readonly output: PayloadCodec | undefined
  readonly error: PayloadCodec | undefined
  resolve(value: unknown): void
  reject(error: SwitchyardError): void
  /** For a STREAM frame waiting to be sent again: its consumer. */
  readonly consumer?: StreamConsumer
}

// Named in core's client.ts; derived here until core's index exports `SubscribeOptions` and `TopicRecovery`.
type SubscribeOptions = NonNullable<Parameters<TopicHandle<unknown>["subscribe"]>[1]>
type TopicRecovery = Parameters<NonNullable<SubscribeOptions["onRecover"]>>[0]

interface Subscription {
  readonly topic: string
  readonly key: string
  readonly codec: PayloadCodec
  /** Declared `delivery: "unreliable"`: no positions, no recovery, latest value wins. */
  readonly unreliable: boolean
  /** `n` of the newest UNRELIABLE message delivered in this subscription's current SUBSCRIBE. */
  newest: number
  readonly listeners: Map<(message: unknown) => void, SubscribeOptions | undefined>
  /** The session epoch its SUBSCRIBE was sent in; a new session re-sends it. */
  sentIn: number
  /** Whether the server ever confirmed it: only then can a renewal have missed something. */
  confirmed: boolean
  /**
   * Where it is in its key's stream: the offset of the last publication delivered and the stream's
   * epoch. Undefined when the server keeps no history for the key, and before the first confirmation.
   */
  position: { offset: number; readonly epoch: string } | undefined
  /** A renewal after a lost session awaits its confirmation, which tells `onRecover`. */
  recovering: boolean
}

/** Passes a SUBSCRIBE's RESULT through: `null` (no history), or a valid `Subscribed`. */
const confirmation: PayloadCodec = {
  decode: (value) =>
    value === null || isSubscribed(value)
      ? { ok: true, value }
      : { ok: false, error: "not a subscription confirmation ([offset, epoch, recovered] or null)" },
  encode: (value) => ({ ok: true, value }),
}

/** Everything a client does: calls, streams, topics and what happens to them when a session is lost. */
export class ClientRuntime {
  readonly client: Client<AnyContract>
  private readonly compiled: CompiledContract
  private readonly connection: Connection
  private readonly pending = new Map<number, Pending>()
  private readonly streams = new Map<number, StreamConsumer>()
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly listeners = new Map<keyof ClientEvents, Set<(...args: never[]) => void>>()
  private nextId = 1
  private epoch = 0
  private transport: TransportId | undefined
  private state: ClientState = "connecting"
  private sessionId: string | undefined
  private reissue: Pending[] = []
  private readonly peers: PeerManager

  constructor(contract: AnyContract, options: ClientOptions) {
    this.compiled = compileContract(contract)
    const transports = (options.transports ?? availableTransports(options)).map((t) => resolveTransport(t, options))
    if (transports.length === 0) throw new TypeError("switchyard: no transports given")
    const negotiation = options.negotiation ?? {}
    this.connection = new Connection(
      {
        url: options.url,
        transports,
        prefer: options.transports === undefined ? "server" : "client",
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
          store: transportStore(options.url, negotiation.storage),
        },
        fetch: options.fetch ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined),
      },
      {
        ready: (info) => {
          this.peers.id = info.peerId
          this.ready(info.transport.id, info.sessionId, info.resumed, info.reason)
        },
        data: (frame) => this.data(frame),
        unreliable: (frame) => this.unreliable(frame),
        down: () => {
          this.transport = undefined
          this.setState("reconnecting")
        },
        lost: (error) => this.lost(error),
        fresh: () => this.fresh(),
        notice: (error) => this.emit("error", error),
        fatal: (error) => {
          this.emit("error", error)
          this.shutdown(error)
        },
      },
    )
    this.peers = new PeerManager(
      this.compiled,
      {
        direct: options.peers?.direct ?? true,
        RTCPeerConnection:
          options.RTCPeerConnection ??
          (globalThis as { RTCPeerConnection?: ClientOptions["RTCPeerConnection"] }).RTCPeerConnection,
        directTimeoutMs: options.peers?.directTimeoutMs ?? 15_000,
        maxPending: options.peers?.maxPending ?? 1024,
      },
      {
        send: (frameBody, payload) => {
          if (this.state === "closed") return this.closedError()
          const refused = payload === undefined ? undefined : this.oversize(frameBody, payload)
          if (refused) return refused
          if (this.sendFrame(FrameType.PEER, frameBody) !== 0) return undefined
          return switchyardError("QUEUE_FULL", "too many frames waiting for the server")
        },
      },
    )
    this.client = this.buildClient()
    this.connection.start()
  }

  private buildClient(): Client<AnyContract> {
    const self = this
    const rpc: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of this.compiled.rpc) {
      rpc[name] = (input: unknown, options?: RpcCallOptions) =>
        this.call(name, channel.input, channel.output, channel.error, input, options)
    }
    const streams: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of this.compiled.streams) {
      streams[name] = (input: unknown, options?: StreamCallOptions) => ({
        [Symbol.asyncIterator]: () =>
          this.openStream(name, channel.input, channel.item, channel.error, input, options, channel.delivery),
      })
    }
    const topics: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of this.compiled.topics) {
      topics[name] = (key: string) => ({
        subscribe: (listener: (m: unknown) => void, opts?: SubscribeOptions) =>
          this.subscribe(name, key, channel.message, channel.delivery === "unreliable", listener, opts),
        publish: (message: unknown) => this.publish(name, key, channel.message, message),
      })
    }
    return {
      rpc,
      streams,
      topics,
      peers: this.peers.api,
      get transport() {
        return self.transport
      },
      get state() {
        return self.state
      },
      get sessionId() {
        return self.sessionId
      },
      on: (event, listener) => {
        let set = this.listeners.get(event)
        if (!set) {
          set = new Set()
          this.listeners.set(event, set)
        }
        set.add(listener as (...args: never[]) => void)
        return () => set.delete(listener as (...args: never[]) => void)
      },
      close: async () => this.close(),
    } as Client<AnyContract>
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    const set = this.listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        ;(listener as unknown as (...a: Parameters<ClientEvents[K]>) => void)(...args)
      } catch (error) {
        report(error)
      }
    }
  }

  private setState(state: ClientState): void {
    if (this.state === state) return
    this.state = state
    this.emit("state", state)
  }

  /** Numbers and queues a data frame: its sequence number, or 0 when the replay buffer is full (the caller rejects). */
  private sendFrame(type: number, frameBody: string, force = false): number {
    return this.state === "closed" ? 0 : this.connection.session.send(type, frameBody, force)
  }

  /**
   * Refuses, before it is queued, a frame the server would refuse: queued, it would be replayed after
   * every reconnect and never settle.
   */
  private oversize(frameBody: string, payload: string): SwitchyardError | undefined {
    const { maxMessageBytes, maxDepth } = this.connection.limits
    // Frame overhead: "[type,seq," and "]" take at most 24 characters.
    if (exceedsBytes(frameBody, maxMessageBytes - 24)) {
      return switchyardError("MESSAGE_TOO_LARGE", `the frame is larger than the server's ${maxMessageBytes} bytes`)
    }
    // The payload sits one level inside the frame array.
    if (exceedsDepth(payload, maxDepth - 1)) {
      return switchyardError("FRAME_TOO_DEEP", `the payload nests deeper than the server's ${maxDepth} levels`)
    }
    return undefined
  }

  private closedError(): SwitchyardError {
    return switchyardError("CLIENT_CLOSED", "the client is closed")
  }

  private call(
    name: string,
    inputCodec: PayloadCodec,
    output: PayloadCodec,
    error: PayloadCodec | undefined,
    input: unknown,
    options: RpcCallOptions | undefined,
  ): Promise<unknown> {
    const json = encodeInput(inputCodec, input, name)
    if (typeof json !== "string") return Promise.reject(json)
    const id = this.nextId++
    const frameBody = body.call(id, name, json)
    const refused = this.oversize(frameBody, json)
    if (refused) return Promise.reject(refused)
    return this.request("rpc", FrameType.CALL, frameBody, id, output, error, options?.signal)
  }

  private request(
    kind: Pending["kind"],
    frameType: number,
    frameBody: string,
    id: number,
    output: PayloadCodec | undefined,
    error: PayloadCodec | undefined,
    signal?: AbortSignal,
  ): Promise<unknown> {
    if (this.state === "closed") return Promise.reject(this.closedError())
    if (signal?.aborted) return Promise.reject(switchyardError("CANCELLED", "aborted before it was sent"))
    return new Promise((resolve, reject) => {
      const seq = this.sendFrame(frameType, frameBody)
      if (seq === 0)
        return reject(switchyardError("QUEUE_FULL", "too many frames waiting for the server; try again later"))
      if (!signal) {
        this.pending.set(id, { id, kind, seq, frameType, frameBody, output, error, resolve, reject })
        return
      }
      const onAbort = () => {
        if (this.pending.get(id) !== entry) return
        this.pending.delete(id)
        this.sendFrame(FrameType.CANCEL, body.cancel(id), true)
        reject(switchyardError("CANCELLED", "the call was aborted"))
      }
      // The listener leaves the caller's signal as soon as the call settles.
      const settled = () => signal.removeEventListener("abort", onAbort)
      const entry: Pending = {
        id,
        kind,
        seq,
        frameType,
        frameBody,
        output,
        error,
        resolve: (value) => {
          settled()
          resolve(value)
        },
        reject: (e) => {
          settled()
          reject(e)
        },
      }
      this.pending.set(id, entry)
      signal.addEventListener("abort", onAbort, { once: true })
    })
  }

  private openStream(
    name: string,
    inputCodec: PayloadCodec,
    item: PayloadCodec,
    error: PayloadCodec | undefined,
    input: unknown,
    options: StreamCallOptions | undefined,
    delivery: Delivery,
  ): AsyncIterator<unknown> {
    const window = Math.max(1, Math.min(Math.floor(options?.window ?? 64) || 64, 1 << 16))
    const id = this.nextId++
    const signal = options?.signal
    const onAbort = () => consumer.abort(switchyardError("CANCELLED", "the stream was aborted"))
    const consumer = new StreamConsumer(
      id,
      item,
      error,
      window,
      {
        credit: (n) => this.sendFrame(FrameType.CREDIT, body.credit(id, n), true),
        cancel: () => {
          if (this.streams.get(id) !== consumer) return
          this.streams.delete(id)
          this.sendFrame(FrameType.CANCEL, body.cancel(id), true)
        },
        finished: () => signal?.removeEventListener("abort", onAbort),
      },
      delivery === "unreliable",
    )
    const json = encodeInput(inputCodec, input, name)
    if (typeof json !== "string") consumer.fail(json)
    else if (this.state === "closed") consumer.fail(this.closedError())
    else if (signal?.aborted) consumer.fail(switchyardError("CANCELLED", "aborted before it was sent"))
    else {
      const frameBody = body.stream(id, name, json, window)
      const refused = this.oversize(frameBody, json)
      consumer.frameBody = frameBody
      consumer.seq = refused ? 0 : this.sendFrame(FrameType.STREAM, frameBody)
      if (refused) consumer.fail(refused)
      else if (consumer.seq === 0) {
        consumer.fail(switchyardError("QUEUE_FULL", "too many frames waiting for the server; try again later"))
      } else {
        this.streams.set(id, consumer)
        signal?.addEventListener("abort", onAbort, { once: true })
      }
    }
    return consumer
  }

  private subscribe(
    topic: string,
    key: string,
    codec: PayloadCodec,
    unreliable: boolean,
    listener: (message: unknown) => void,
    options: SubscribeOptions | undefined,
  ): () => void {
    if (this.state === "closed") {
      options?.onError?.(this.closedError())
      return () => {}
    }
    const ref = `${topic}\u0000${key}`
    let sub = this.subscriptions.get(ref)
    if (!sub) {
      sub = {
        topic,
        key,
        codec,
        unreliable,
        newest: 0,
        listeners: new Map(),
        sentIn: this.epoch,
        confirmed: false,
        position: undefined,
        recovering: false,
      }
      this.subscriptions.set(ref, sub)
      this.sendSubscribe(sub)
    }
    sub.listeners.set(listener, options)
    const current = sub
    return () => {
      if (!current.listeners.delete(listener) || current.listeners.size > 0) return
      if (this.subscriptions.get(ref) !== current) return
      this.subscriptions.delete(ref)
      this.sendFrame(FrameType.UNSUBSCRIBE, body.unsubscribe(topic, key), true)
    }
  }

  /**
   * Sends the SUBSCRIBE of `sub` in the current session, from its position when it has one (a renewal
   * after a lost session), else from now. Its RESULT is handled as it arrives, not a microtask later, so
   * that the position is set before the MESSAGE frames that follow it in the same batch.
   */
  private sendSubscribe(sub: Subscription): void {
    sub.sentIn = this.epoch
    // A new session may be on another server, whose messages count from 1 again.
    sub.newest = 0
    const id = this.nextId++
    const since: TopicPosition | null = sub.position ? [sub.position.offset, sub.position.epoch] : null
    // An unreliable topic has no positions: the form without `since`.
    const frameBody = sub.unreliable
      ? body.subscribe(id, sub.topic, sub.key)
      : body.subscribe(id, sub.topic, sub.key, since)
    const seq = this.sendFrame(FrameType.SUBSCRIBE, frameBody)
    if (seq === 0) {
      const error = switchyardError("QUEUE_FULL", "too many frames waiting for the server; try again later")
      // Refused after `subscribe` has returned, as a request would be.
      queueMicrotask(() => this.subscriptionFailed(sub, error))
      return
    }
    this.pending.set(id, {
      id,
      kind: "subscribe",
      seq,
      frameType: FrameType.SUBSCRIBE,
      frameBody,
      output: confirmation,
      error: undefined,
      resolve: (output) => this.subscribed(sub, since, output as Subscribed | null),
      reject: (error) => this.subscriptionFailed(sub, error),
    })
  }

  /** A refused subscription ends; its listeners and the client hear why. */
  private subscriptionFailed(sub: Subscription, error: SwitchyardError): void {
    // A closed client settles everything at once.
    if (this.state === "closed") return
    const ref = `${sub.topic}\u0000${sub.key}`
    if (this.subscriptions.get(ref) === sub) this.subscriptions.delete(ref)
    for (const options of [...sub.listeners.values()]) {
      try {
        options?.onError?.(error)
      } catch (thrown) {
        report(thrown)
      }
    }
    this.emit("error", error)
  }

  /**
   * The server confirmed `sub` (asked from `since`): it now stands at the confirmed position. After a
   * renewal, `onRecover` hears whether anything was missed, and the client an error when it was.
   */
  private subscribed(sub: Subscription, since: TopicPosition | null, output: Subscribed | null): void {
    if (this.subscriptions.get(`${sub.topic}\u0000${sub.key}`) !== sub) return
    sub.position = output === null ? undefined : { offset: output[0], epoch: output[1] }
    sub.confirmed = true
    if (!sub.recovering) return
    sub.recovering = false
    const recovered = since !== null && output?.[2] === true
    // Within one epoch the server's offset tells how many publications went by since ours.
    const sameStream = since !== null && output !== null && output[1] === since[1] && output[0] > since[0]
    const missed = recovered ? 0 : sameStream ? output[0] - since[0] : undefined
    const info: TopicRecovery = missed === undefined ? { recovered } : { recovered, missed }
    for (const options of [...sub.listeners.values()]) {
      try {
        options?.onRecover?.(info)
      } catch (error) {
        report(error)
      }
    }
    if (recovered) return
    const what = missed === undefined ? "publications" : `${missed} publication${missed === 1 ? "" : "s"}`
    this.emit(
      "error",
      switchyardError(
        "TOPIC_GAP",
        `${sub.topic}(${JSON.stringify(sub.key)}): ${what} made while the session was lost could not be replayed`,
      ),
    )
  }

  private publish(topic: string, key: string, codec: PayloadCodec, message: unknown): Promise<void> {
    const json = encodeInput(codec, message, topic)
    if (typeof json !== "string") return Promise.reject(json)
    const id = this.nextId++
    const frameBody = body.publish(id, topic, key, json)
    const refused = this.oversize(frameBody, json)
    if (refused) return Promise.reject(refused)
    return this.request("publish", FrameType.PUBLISH, frameBody, id, undefined, undefined) as Promise<void>
  }

  private ready(transport: TransportId, sessionId: string, resumed: boolean, reason: TransportReason): void {
    this.transport = transport
    this.sessionId = sessionId
    this.setState("connected")
    // An upgrade moves the session without a reconnect: no `session` event, only `transport`.
    if (reason !== "upgrade") this.emit("session", { id: sessionId, recovered: resumed })
    this.emit("transport", transport, reason)
  }

  /** The server lost the session: settle what may have reached it, keep what surely did not. */
  private lost(error: SwitchyardError): void {
    this.epoch++
    // Peer connections belong to the session: the other sides hear it end from the server.
    this.peers.id = undefined
    this.peers.endAll(switchyardError("PEER_CLOSED", `${error.message}; the peer connection closed`))
    const written = this.connection.session.written
    for (const [id, entry] of this.pending) {
      // Subscriptions are renewed by `fresh` whatever became of their requests.
      if (entry.kind === "subscribe") {
        this.pending.delete(id)
        continue
      }
      if (entry.seq > written) {
        this.reissue.push(entry)
        continue
      }
      this.pending.delete(id)
      entry.reject(switchyardError("SESSION_LOST", `${error.message}; the call may or may not have run`))
    }
    for (const [id, consumer] of this.streams) {
      if (consumer.seq > written && consumer.frameBody !== undefined) {
        this.reissue.push({
          id,
          kind: "rpc",
          seq: consumer.seq,
          frameType: FrameType.STREAM,
          frameBody: consumer.frameBody,
          output: undefined,
          error: undefined,
          resolve: noop,
          reject: (e) => consumer.fail(e),
          consumer,
        })
        continue
      }
      this.streams.delete(id)
      consumer.fail(switchyardError("SESSION_LOST", `${error.message}; the stream ended`))
    }
    this.reissue.sort((a, b) => a.seq - b.seq)
    this.emit("error", error)
  }

  /** The new session is empty: send again, first and in order, what never left; then re-subscribe. */
  private fresh(): void {
    const reissue = this.reissue
    this.reissue = []
    for (const entry of reissue) {
      entry.seq = this.sendFrame(entry.frameType, entry.frameBody)
      if (entry.consumer) entry.consumer.seq = entry.seq
      if (entry.seq !== 0) continue
      this.pending.delete(entry.id)
      this.streams.delete(entry.id)
      entry.reject(switchyardError("QUEUE_FULL", "too many frames waiting for the server"))
    }
    for (const sub of this.subscriptions.values()) {
      if (sub.sentIn === this.epoch) continue
      // Only a subscription the server had confirmed can have missed something; an unreliable one
      // promises nothing about what it missed, so it is renewed without a recovery report.
      if (sub.confirmed && !sub.unreliable) sub.recovering = true
      this.sendSubscribe(sub)
    }
  }

  private data(frame: ServerDataFrame): void {
    switch (frame[0]) {
      case FrameType.PEER:
        return this.peers.receive(frame[2], frame[3], frame[4])
      case FrameType.RESULT: {
        const entry = this.pending.get(frame[2])
        if (!entry) return
        this.pending.delete(frame[2])
        if (!entry.output) return entry.resolve(undefined)
        const decoded = entry.output.decode(frame[3])
        if (decoded.ok) entry.resolve(decoded.value)
        else entry.reject(switchyardError("INVALID_OUTPUT", `the server sent an invalid result: ${decoded.error}`))
        return
      }
      case FrameType.ERROR: {
        const entry = this.pending.get(frame[2])
        if (entry) {
          this.pending.delete(frame[2])
          return entry.reject(remoteError(frame[3], frame[4], frame[5], entry.error))
        }
        const consumer = this.streams.get(frame[2])
        if (consumer) {
          this.streams.delete(frame[2])
          consumer.fail(remoteError(frame[3], frame[4], frame[5], consumer.error))
        }
        return
      }
      case FrameType.ITEM:
        return this.streams.get(frame[2])?.push(frame[3])
      case FrameType.END: {
        const consumer = this.streams.get(frame[2])
        if (!consumer) return
        this.streams.delete(frame[2])
        return consumer.end()
      }
      case FrameType.MESSAGE: {
        const sub = this.subscriptions.get(`${frame[2]}\u0000${frame[3]}`)
        if (!sub) return
        const offset = frame[5]
        const position = sub.position
        if (offset !== undefined && position !== undefined) {
          // The server sends each offset once, in order; this only guards the promise "never twice".
          if (offset <= position.offset) return
          if (offset !== position.offset + 1) {
            this.emit(
              "error",
              switchyardError(
                "TOPIC_GAP",
                `${frame[2]}(${JSON.stringify(frame[3])}): publications ${position.offset + 1} to ${offset - 1} never arrived`,
              ),
            )
          }
          position.offset = offset
        }
        return this.deliver(sub, frame[4])
      }
    }
  }

  /**
   * An UNRELIABLE frame: a stream item (4 elements) or a topic message (5). Each goes only to a stream or
   * subscription of that delivery, and only when newer than the last delivered there (docs/delivery.md).
   */
  private unreliable(frame: UnreliableFrame): void {
    if (frame.length === 4) return this.streams.get(frame[2])?.latest(frame[1], frame[3])
    const sub = this.subscriptions.get(`${frame[2]}\u0000${frame[3]}`)
    if (!sub?.unreliable || frame[1] <= sub.newest) return
    sub.newest = frame[1]
    this.deliver(sub, frame[4])
  }

  /** Decodes a topic message and hands it to every listener of `sub`; an invalid one is an `error` event. */
  private deliver(sub: Subscription, raw: unknown): void {
    const decoded = sub.codec.decode(raw)
    if (!decoded.ok) {
      return this.emit(
        "error",
        switchyardError("INVALID_OUTPUT", `topic ${sub.topic}: invalid message: ${decoded.error}`),
      )
    }
    for (const listener of [...sub.listeners.keys()]) {
      try {
        listener(decoded.value)
      } catch (error) {
        report(error)
      }
    }
  }

  private close(): void {
    this.connection.close()
    this.shutdown(this.closedError())
  }

  /** Settles everything with `error` and stops for good. */
  private shutdown(error: SwitchyardError): void {
    if (this.state === "closed") return
    this.setState("closed")
    this.transport = undefined
    for (const entry of this.pending.values()) entry.reject(error)
    for (const entry of this.reissue) entry.reject(error)
    for (const consumer of this.streams.values()) consumer.fail(error)
    this.pending.clear()
    this.reissue = []
    this.streams.clear()
    this.subscriptions.clear()
    this.peers.endAll(error)
  }
}

/** The transports this runtime can run, best first, when the options do not list them. */
function availableTransports(options: ClientOptions): TransportId[] {
  const g = globalThis as { WebSocket?: unknown; EventSource?: unknown; fetch?: unknown }
  const ids: TransportId[] = []
  if (options.WebSocket ?? g.WebSocket) ids.push("websocket")
  if (options.EventSource ?? g.EventSource) ids.push("sse")
  if (options.fetch ?? g.fetch) ids.push("long-polling", "polling")
  return ids
}

/** Transports named by id become the built-in ones; objects are used as they are. */
function resolveTransport(t: TransportId | ClientTransport, options: ClientOptions): ClientTransport {
  if (typeof t !== "string") return t
  if (t === "websocket") return websocketTransport({ WebSocket: options.WebSocket })
  if (t === "long-polling") return longPollingTransport({ fetch: options.fetch })
  if (t === "sse") return sseTransport({ EventSource: options.EventSource, fetch: options.fetch })
  if (t === "polling") return pollingTransport({ fetch: options.fetch })
  throw new TypeError(`switchyard: transport ${JSON.stringify(t)} is not available in this client`)
}
