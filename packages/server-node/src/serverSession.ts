import {
  body,
  type ClientFrame,
  type CompiledContract,
  type CompiledRpc,
  type CompiledStream,
  type ConnectionInfo,
  closeCodeOf,
  control,
  decodeClientFrame,
  type ErrorCode,
  FrameType,
  Heartbeat,
  type Link,
  MAX_CREDIT,
  peekRequestHeader,
  type ServerLinkEvents,
  Session,
  type TopicPosition,
  type TransportId,
  unreliableFrame,
} from "@switchyard/core"
import { CallContext, decide, encode, failureMessage, isAsync } from "./callContext.ts"
import { type HandlerContext, type HandlerOutcome, runRpc, streamIterator, streamOutcome } from "./handlers.ts"
import type { ServerLimits } from "./options.ts"
import type { PeerEndpoint, PeerHub } from "./peers.ts"
import type { SignalledServerTransport, SignalSession } from "./signalled.ts"
import type { Joined, Subscriber, TopicRegistry } from "./topics.ts"

type AnyHandler = (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown
type AnyPolicy = {
  readonly canSubscribe?: (key: string, ctx: HandlerContext<never, unknown>) => unknown
  readonly canPublish?: (key: string, message: unknown, ctx: HandlerContext<never, unknown>) => unknown
}

/** What every session of one server shares. */
export interface Runtime {
  readonly compiled: CompiledContract
  readonly rpc: ReadonlyMap<string, AnyHandler>
  readonly streams: ReadonlyMap<string, AnyHandler>
  readonly policies: ReadonlyMap<string, AnyPolicy>
  readonly limits: ServerLimits
  readonly topics: TopicRegistry
  onError(error: unknown, context: { readonly sessionId?: string; readonly channel?: string }): void
  /** The session ended (for `reason`): the server forgets it. */
  forget(session: ServerSession, reason: ErrorCode): void
  /** The signalled transport (WebRTC), when the server offers one. */
  readonly signalled: SignalledServerTransport | undefined
  /** The server's acceptor, for links a signalled transport opens: bound to the session that signalled. */
  readonly accept: (link: Link, info: ConnectionInfo, signalledBy: string) => ServerLinkEvents
  /** Client↔client connections (docs/peers.md). */
  readonly peers: PeerHub
}

interface StreamState {
  readonly ctx: CallContext
  /** Declared `delivery: "unreliable"`: items go as UNRELIABLE frames, outside credit. */
  readonly unreliable: boolean
  /** Items sent so far: `n` of the next UNRELIABLE frame is one more. */
  sent: number
  credit: number
  wake: (() => void) | undefined
  iterator: AsyncIterator<unknown> | undefined
}

/**
 * One session on the server: the reliability layer (`Session`) plus dispatch of every client frame to
 * handlers, streams and topics. It outlives its links: while disconnected it keeps running handlers and
 * queueing their results for replay, until the client resumes or the resume window passes.
 */
export class ServerSession implements Subscriber, PeerEndpoint {
  private readonly session: Session
  private readonly heartbeat: Heartbeat
  private link: Link | undefined
  private transport: TransportId = "memory"
  private invalidFrames = 0
  private expiry: ReturnType<typeof setTimeout> | undefined
  private ended = false
  private signalling: SignalSession | undefined
  private readonly calls = new Map<number, CallContext>()
  private readonly streams = new Map<number, StreamState>()
  private readonly subscriptions = new Map<string, { readonly topic: string; readonly key: string; active: boolean }>()

  constructor(
    private readonly runtime: Runtime,
    readonly id: string,
    readonly token: string,
    readonly auth: unknown,
    /** The public id other clients connect to (docs/peers.md); never the token. */
    readonly peerId: string,
  ) {
    const { limits } = runtime
    this.session = new Session(limits)
    this.heartbeat = new Heartbeat(
      limits.heartbeatIntervalMs,
      limits.heartbeatTimeoutMs,
      () => {
        this.session.sendControl(control.ping(this.session.received))
        this.session.markAcked()
      },
      () => this.link?.close(closeCodeOf("HEARTBEAT_TIMEOUT"), "HEARTBEAT_TIMEOUT"),
    )
  }

  get isEnded(): boolean {
    return this.ended
  }

  /** Highest client sequence number received, for the WELCOME frame. */
  get received(): number {
    return this.session.received
  }

  /**
   * Moves the session onto `link` (a new connection or a resume), replacing any link it had. Sends
   * WELCOME, then replays what the client has not acknowledged. Returns false when the client claims
   * frames this session never sent.
   */
  attach(link: Link, transport: TransportId, welcome: string, clientReceived: number): boolean {
    if (clientReceived >= this.session.next) return false
    const previous = this.session.detach()
    if (previous) previous.close(closeCodeOf("CONNECTION_REPLACED"), "CONNECTION_REPLACED")
    if (this.expiry !== undefined) clearTimeout(this.expiry)
    this.expiry = undefined
    this.link = link
    this.transport = transport
    this.invalidFrames = 0
    link.send(welcome)
    this.session.attach(link, clientReceived)
    this.heartbeat.start()
    return true
  }

  /**
   * `link` is still ours but its carrier reconnected (an SSE stream resumed with `Last-Event-ID`): the
   * client has our data frames up to `clientReceived`; acknowledge those and replay the rest on the same
   * link. ACKs written to the lost carrier may be gone too, so ours is sent again.
   */
  resume(link: Link, clientReceived: number): void {
    if (link !== this.link || this.ended) return
    if (!this.session.attach(link, clientReceived)) {
      return this.violation("SEQUENCE_GAP", "the client claims frames this session never sent")
    }
    if (this.session.received > 0) link.send(control.ack(this.session.received))
  }

  /** The transport reports that `link` closed. */
  linkClosed(link: Link): void {
    if (link !== this.link) return
    this.link = undefined
    this.session.detach()
    this.heartbeat.stop()
    if (this.ended) return
    this.expiry = setTimeout(() => this.end("SESSION_LOST", "resume window passed"), this.runtime.limits.resumeWindowMs)
    this.expiry.unref()
  }

  /** One frame arrived on `link`. Never throws. */
  receive(link: Link, data: unknown): void {
    if (link !== this.link || this.ended) return
    this.heartbeat.heard()
    const decoded = decodeClientFrame(data, this.runtime.limits)
    if (!decoded.ok) return this.refused(data, decoded.code, decoded.message, decoded.request)
    const f = decoded.frame
    switch (f[0]) {
      case FrameType.ACK:
      case FrameType.PONG:
        if (!this.session.acknowledge(f[1])) this.violation("SEQUENCE_GAP", "acknowledged a frame never sent")
        return
      case FrameType.BYE:
        return this.end("CLIENT_CLOSED", "the client closed the session")
      case FrameType.NOTICE:
        return
      case FrameType.HELLO:
        return this.invalid("INVALID_FRAME", "HELLO is only valid as the first frame of a connection")
      case FrameType.PROBE:
        return this.invalid("INVALID_FRAME", "PROBE is only valid before HELLO")
    }
    const arrival = this.session.arrive(f[1])
    if (arrival === "gap")
      return this.violation("SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${f[1]}`)
    if (arrival === "deliver") this.dispatch(f)
  }

  /** Ends the session for good: aborts its work, drops its subscriptions, tells the client why. */
  end(code: ErrorCode, message: string): void {
    if (this.ended) return
    this.ended = true
    if (this.expiry !== undefined) clearTimeout(this.expiry)
    this.heartbeat.stop()
    this.runtime.peers.leave(this)
    for (const ctx of this.calls.values()) ctx.abort(code)
    for (const stream of this.streams.values()) this.stopStream(stream, code)
    this.calls.clear()
    this.streams.clear()
    for (const sub of this.subscriptions.values()) this.runtime.topics.unsubscribe(sub.topic, sub.key, this)
    this.subscriptions.clear()
    const link = this.link
    if (link) {
      link.send(control.bye(code, message))
      link.close(closeCodeOf(code), code)
    }
    this.link = undefined
    // After the BYE: the link may be one of this session's own attempts, and dropping the attempts
    // closes it (ATTEMPT_ENDED).
    if (this.signalling) this.runtime.signalled?.sessionEnded(this.signalling)
    this.session.reset()
    this.runtime.forget(this, code)
  }

  /** A topic message for this session (Subscriber). */
  deliver(messageBody: string): void {
    this.send(FrameType.MESSAGE, messageBody)
  }

  /**
   * An UNRELIABLE frame for this session (a message of an unreliable topic, an item of an unreliable
   * stream): latest-value-wins on the current link, and dropped when there is none. It is never numbered
   * nor kept for replay, so it can never overflow the session (docs/delivery.md).
   */
  deliverLatest(slot: object, frame: string): void {
    const link = this.link
    if (this.ended || !link) return
    if (link.sendLatest) link.sendLatest(slot, frame)
    else link.send(frame)
  }

  /** A PEER frame for this session (PeerEndpoint). */
  sendPeer(frameBody: string): void {
    this.send(FrameType.PEER, frameBody)
  }

  /** Whether a relayed peer message of `size` fits in half the replay buffer (PeerEndpoint). */
  roomFor(size: number): boolean {
    const { maxReplayFrames, maxReplayBytes } = this.runtime.limits
    return this.session.pending < maxReplayFrames / 2 && !this.session.wouldOverflow(size + maxReplayBytes / 2)
  }

  private send(type: number, frameBody: string): void {
    if (this.ended) return
    if (this.session.send(type, frameBody) === 0) {
      this.end("REPLAY_OVERFLOW", "the client fell too far behind: the replay buffer is full")
    }
  }

  /**
   * A frame the codec refused. A request too large or too deep is answered with an ERROR for its id and
   * counted in the sequence (the client may have queued it before it knew our limits), as is a request
   * whose head the codec could read (`request`: a SUBSCRIBE with a malformed `since`); anything else is
   * a protocol error answered with a NOTICE.
   */
  private refused(data: unknown, code: ErrorCode, message: string, request?: { seq: number; id: number }): void {
    const head =
      request ??
      ((code === "MESSAGE_TOO_LARGE" || code === "FRAME_TOO_DEEP") && typeof data === "string"
        ? peekRequestHeader(data)
        : undefined)
    if (!head) return this.invalid(code, message)
    const arrival = this.session.arrive(head.seq)
    if (arrival === "deliver") return this.fail(head.id, code, message)
    if (arrival === "gap")
      this.violation("SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${head.seq}`)
  }

  private invalid(code: ErrorCode, message: string): void {
    this.link?.send(control.notice(code, message))
    if (++this.invalidFrames > this.runtime.limits.maxInvalidFrames) this.violation(code, "too many invalid frames")
  }

  /** A violation that breaks the sequence: close the link; the client resumes from what was acknowledged. */
  private violation(code: ErrorCode, message: string): void {
    this.link?.send(control.notice(code, message))
    this.link?.close(closeCodeOf(code), code)
  }

  private dispatch(f: ClientFrame): void {
    switch (f[0]) {
      case FrameType.CALL:
        return this.call(f[2], f[3], f[4])
      case FrameType.STREAM:
        return this.startStream(f[2], f[3], f[4], f[5])
      case FrameType.CANCEL:
        return this.cancel(f[2])
      case FrameType.CREDIT: {
        const stream = this.streams.get(f[2])
        if (stream) {
          stream.credit = Math.min(stream.credit + f[3], MAX_CREDIT)
          stream.wake?.()
        }
        return
      }
      case FrameType.SUBSCRIBE:
        return this.subscribe(f[2], f[3], f[4], f[5])
      case FrameType.UNSUBSCRIBE:
        return this.unsubscribe(f[2], f[3])
      case FrameType.PUBLISH:
        return this.publish(f[2], f[3], f[4], f[5])
      case FrameType.SIGNAL: {
        const transport = this.runtime.signalled
        if (!transport) return this.send(FrameType.SIGNAL, body.signal(f[2], "end", "no signalled transport here"))
        return transport.signal(this.signalSession, f[2], f[3], f[4])
      }
      case FrameType.PEER:
        return this.runtime.peers.receive(this, f[2], f[3], f[4])
    }
  }

  /** This session as a signalled transport sees it; made on first use. */
  private get signalSession(): SignalSession {
    this.signalling ??= {
      id: this.id,
      remoteAddress: undefined,
      maxMessageBytes: this.runtime.limits.maxMessageBytes,
      reply: (attempt, kind, data) => {
        if (!this.ended) this.send(FrameType.SIGNAL, body.signal(attempt, kind, data))
      },
      accept: (link) => {
        const transport = this.runtime.signalled?.id ?? "webrtc"
        return this.runtime.accept(link, { transport, remoteAddress: undefined, auth: this.auth }, this.token)
      },
    }
    return this.signalling
  }

  private fail(id: number, code: ErrorCode, message: string, data?: string): void {
    this.send(FrameType.ERROR, body.error(id, code, message, data))
  }

  /** Common admission of a call or stream: id free, channel known, input valid, capacity left. */
  private admit<Ch extends CompiledRpc | CompiledStream>(
    id: number,
    channel: Ch | undefined,
    name: string,
    input: unknown,
  ): { channel: Ch; input: unknown } | undefined {
    if (this.calls.has(id) || this.streams.has(id)) return void this.fail(id, "DUPLICATE_ID", `id ${id} is in use`)
    if (!channel) return void this.fail(id, "UNKNOWN_CHANNEL", `no such channel: ${JSON.stringify(name)}`)
    if (this.calls.size + this.streams.size >= this.runtime.limits.maxInFlight) {
      return void this.fail(id, "LIMIT_EXCEEDED", `more than ${this.runtime.limits.maxInFlight} calls in flight`)
    }
    const decoded = channel.input.decode(input)
    if (!decoded.ok) return void this.fail(id, "INVALID_INPUT", `${name}: ${decoded.error}`)
    return { channel, input: decoded.value }
  }

  private call(id: number, name: string, rawInput: unknown): void {
    const admitted = this.admit(id, this.runtime.compiled.rpc.get(name), name, rawInput)
    if (!admitted) return
    const { channel, input } = admitted
    const handler = this.runtime.rpc.get(name) as AnyHandler
    const ctx = new CallContext(this.id, this.transport, this.auth)
    // Fast path: a plain synchronous result is answered without a promise.
    let result: unknown
    try {
      result = handler(input, ctx)
    } catch (thrown) {
      return this.settle(id, channel, ctx, streamOutcome(thrown, ctx.signal))
    }
    if (!isAsync(result)) return this.settle(id, channel, ctx, { _tag: "success", value: result })
    this.calls.set(id, ctx)
    void runRpc(() => result, input, ctx).then((outcome) => {
      if (this.calls.get(id) !== ctx) return
      this.calls.delete(id)
      this.settle(id, channel, ctx, outcome)
    })
  }

  private settle(id: number, channel: CompiledRpc | CompiledStream, ctx: CallContext, outcome: HandlerOutcome): void {
    if (ctx.aborted || this.ended) return
    if (outcome._tag === "success") {
      if (channel.kind === "stream") return this.send(FrameType.END, body.end(id))
      const json = encode(channel.output, outcome.value)
      if (json === undefined) {
        this.runtime.onError(new Error(`${channel.name} returned a value that does not match its schema`), {
          sessionId: this.id,
          channel: channel.name,
        })
        return this.fail(id, "INVALID_OUTPUT", `${channel.name}: the server produced an invalid result`)
      }
      return this.send(FrameType.RESULT, body.result(id, json))
    }
    if (outcome._tag === "failure" && channel.error) {
      const json = encode(channel.error, outcome.error)
      if (json !== undefined) return this.fail(id, "FAILURE", failureMessage(channel.name, outcome.error), json)
    }
    if (outcome._tag === "interrupted") {
      // The caller did not cancel and the session did not end (both returned above): the handler
      // interrupted itself, and the caller still needs an answer.
      return this.fail(id, "CANCELLED", `${channel.name}: the handler was interrupted`)
    }
    const cause =
      outcome._tag === "defect" ? outcome.cause : new Error(`${channel.name} failed with an undeclared error`)
    this.runtime.onError(cause, { sessionId: this.id, channel: channel.name })
    this.fail(id, "INTERNAL_ERROR", `${channel.name}: internal error`)
  }

  private cancel(id: number): void {
    const ctx = this.calls.get(id)
    if (ctx) {
      this.calls.delete(id)
      ctx.abort("CANCELLED")
    }
    const stream = this.streams.get(id)
    if (stream) {
      this.streams.delete(id)
      this.stopStream(stream, "CANCELLED")
    }
  }

  private startStream(id: number, name: string, rawInput: unknown, credit: number): void {
    const admitted = this.admit(id, this.runtime.compiled.streams.get(name), name, rawInput)
    if (!admitted) return
    const state: StreamState = {
      ctx: new CallContext(this.id, this.transport, this.auth),
      unreliable: admitted.channel.delivery === "unreliable",
      sent: 0,
      credit,
      wake: undefined,
      iterator: undefined,
    }
    this.streams.set(id, state)
    void this.pump(id, admitted.channel, admitted.input, state)
  }

  /**
   * Pulls items while the client has granted credit; waits for CREDIT frames when it has not. An
   * unreliable stream ignores credit: it is pulled at the producer's pace, at most one item per turn of
   * the event loop (so that a producer that never waits cannot starve the server), and its items are
   * conflated on the link instead of queueing.
   */
  private async pump(id: number, channel: CompiledStream, input: unknown, state: StreamState): Promise<void> {
    const { ctx } = state
    const live = () => !ctx.aborted && !this.ended
    try {
      const handler = this.runtime.streams.get(channel.name) as AnyHandler
      const iterator = streamIterator(handler(input, ctx))
      state.iterator = iterator
      while (live()) {
        if (state.credit === 0 && !state.unreliable) {
          await new Promise<void>((resolve) => {
            state.wake = resolve
          })
          state.wake = undefined
          continue
        }
        const next = await iterator.next()
        if (!live()) return
        if (next.done) {
          this.streams.delete(id)
          return this.settle(id, channel, ctx, { _tag: "success", value: undefined })
        }
        const json = encode(channel.item, next.value)
        if (json === undefined) {
          this.stopStream(state, "INVALID_OUTPUT")
          this.streams.delete(id)
          this.runtime.onError(new Error(`${channel.name} yielded an item that does not match its schema`), {
            sessionId: this.id,
            channel: channel.name,
          })
          return this.fail(id, "INVALID_OUTPUT", `${channel.name}: the server produced an invalid item`)
        }
        if (state.unreliable) {
          this.deliverLatest(state, unreliableFrame(++state.sent, body.item(id, json)))
          // Also lets the link write this item before an END that may follow.
          await nextTurn()
          continue
        }
        state.credit--
        this.send(FrameType.ITEM, body.item(id, json))
      }
    } catch (thrown) {
      if (!live()) return
      this.streams.delete(id)
      this.settle(id, channel, ctx, streamOutcome(thrown, ctx.signal))
    }
  }

  private stopStream(state: StreamState, reason: ErrorCode): void {
    state.ctx.abort(reason)
    state.wake?.()
    void Promise.resolve()
      .then(() => state.iterator?.return?.())
      .catch(() => undefined)
  }

  private subscribe(id: number, topic: string, key: string, since: TopicPosition | null | undefined): void {
    if (!this.runtime.compiled.topics.has(topic)) {
      return this.fail(id, "UNKNOWN_CHANNEL", `no such topic: ${JSON.stringify(topic)}`)
    }
    const ref = `${topic}\u0000${key}`
    if (this.subscriptions.has(ref)) return this.send(FrameType.RESULT, body.result(id, "null"))
    if (this.subscriptions.size >= this.runtime.limits.maxSubscriptions) {
      return this.fail(id, "LIMIT_EXCEEDED", `more than ${this.runtime.limits.maxSubscriptions} subscriptions`)
    }
    const sub = { topic, key, active: false }
    this.subscriptions.set(ref, sub)
    const policy = this.runtime.policies.get(topic)?.canSubscribe
    const ctx = new CallContext(this.id, this.transport, this.auth)
    decide(policy && (() => policy(key, ctx)), true, (allowed) => {
      if (this.ended) return
      if (this.subscriptions.get(ref) !== sub) {
        // Unsubscribed while the policy was deciding: the request is answered all the same.
        return this.send(FrameType.RESULT, body.result(id, "null"))
      }
      if (allowed !== true) {
        this.subscriptions.delete(ref)
        if (allowed instanceof Error) this.runtime.onError(allowed, { sessionId: this.id, channel: topic })
        return this.fail(id, "FORBIDDEN", `not allowed to subscribe to ${topic}(${JSON.stringify(key)})`)
      }
      sub.active = true
      this.confirm(id, since, this.runtime.topics.subscribe(topic, key, this, since, this.runtime.limits))
    })
  }

  /**
   * Answers a SUBSCRIBE that has just joined its key, then replays what it missed, all before any live
   * MESSAGE can follow (the registry delivers synchronously). A replay the replay buffer could not take
   * whole is not sent: the client is told it was not recovered, rather than the session overflowing on
   * every renewal.
   */
  private confirm(id: number, since: TopicPosition | null | undefined, joined: Joined): void {
    if (since === undefined || joined.epoch === undefined) return this.send(FrameType.RESULT, body.result(id, "null"))
    const replay =
      since !== null && joined.replay !== undefined && this.canTake(joined.replay) ? joined.replay : undefined
    if (since === null || replay === undefined) {
      return this.send(FrameType.RESULT, body.subscribed(id, joined.offset, joined.epoch, since === null))
    }
    this.send(FrameType.RESULT, body.subscribed(id, since[0], joined.epoch, true))
    for (const messageBody of replay) this.send(FrameType.MESSAGE, messageBody)
  }

  /** Whether the replay buffer can take these MESSAGE bodies, and the RESULT before them, without overflowing. */
  private canTake(bodies: readonly string[]): boolean {
    if (bodies.length === 0) return true
    // A frame is its body plus "[12,<seq>," and "]": at most 24 more characters.
    let size = 64
    for (const messageBody of bodies) size += messageBody.length + 24
    return (
      this.session.pending + bodies.length + 1 <= this.runtime.limits.maxReplayFrames &&
      !this.session.wouldOverflow(size)
    )
  }

  private unsubscribe(topic: string, key: string): void {
    const ref = `${topic}\u0000${key}`
    const sub = this.subscriptions.get(ref)
    if (!sub) return
    this.subscriptions.delete(ref)
    if (sub.active) this.runtime.topics.unsubscribe(topic, key, this)
  }

  private publish(id: number, topic: string, key: string, raw: unknown): void {
    const channel = this.runtime.compiled.topics.get(topic)
    if (!channel) return this.fail(id, "UNKNOWN_CHANNEL", `no such topic: ${JSON.stringify(topic)}`)
    const decoded = channel.message.decode(raw)
    if (!decoded.ok) return this.fail(id, "INVALID_INPUT", `${topic}: ${decoded.error}`)
    const policy = this.runtime.policies.get(topic)?.canPublish
    const ctx = new CallContext(this.id, this.transport, this.auth)
    // Clients may publish only where a canPublish policy allows it.
    decide(policy && (() => policy(key, decoded.value, ctx)), false, (allowed) => {
      if (this.ended) return
      if (allowed !== true) {
        if (allowed instanceof Error) this.runtime.onError(allowed, { sessionId: this.id, channel: topic })
        return this.fail(id, "FORBIDDEN", `not allowed to publish to ${topic}(${JSON.stringify(key)})`)
      }
      // Re-encode the decoded value so that subscribers get the canonical form, not the sender's bytes.
      const json = encode(channel.message, decoded.value)
      if (json === undefined) return this.fail(id, "INVALID_INPUT", `${topic}: the message cannot be encoded`)
      this.runtime.topics.publishEncoded(topic, key, json)
      this.send(FrameType.RESULT, body.result(id, "null"))
    })
  }
}

/** Resolves on the next turn of the event loop, after I/O. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
