import {
  body,
  type CompiledRpc,
  type CompiledStream,
  type ErrorCode,
  FrameType,
  MAX_CREDIT,
  unreliableFrame,
} from "@switchyard/core"
import { CallContext } from "./callContext.ts"
import { encodePayload } from "./encodePayload.ts"
import { type HandlerOutcome, isAsync, runRpc, streamIterator, streamOutcome } from "./handlers.ts"
import type { AnyHandler, SessionPort } from "./runtime.ts"

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
 * The RPC calls and streams of one session (CALL, STREAM, CREDIT, CANCEL): admission, the handler run,
 * the answer checked against the contract, and stream credit (docs/protocol.md).
 */
export class Calls {
  private readonly calls = new Map<number, CallContext>()
  private readonly streams = new Map<number, StreamState>()

  constructor(private readonly session: SessionPort) {}

  /** Calls and streams running now. */
  get running(): number {
    return this.calls.size + this.streams.size
  }

  /** The ids of the calls and streams running now (a session handed over leaves them running here). */
  ids(): Array<{ readonly id: number; readonly stream: boolean }> {
    return [
      ...[...this.calls.keys()].map((id) => ({ id, stream: false })),
      ...[...this.streams.keys()].map((id) => ({ id, stream: true })),
    ]
  }

  /** Aborts every call and stream (the session ended for `code`). */
  abortAll(code: ErrorCode): void {
    for (const ctx of this.calls.values()) ctx.abort(code)
    for (const stream of this.streams.values()) this.stopStream(stream, code)
    this.calls.clear()
    this.streams.clear()
  }

  call(id: number, name: string, rawInput: unknown): void {
    const { session } = this
    const admitted = this.admit(id, session.runtime.compiled.rpc.get(name), name, rawInput)
    if (!admitted) return
    const { channel, input } = admitted
    const handler = session.runtime.rpc.get(name) as AnyHandler
    const ctx = new CallContext(session.id, session.transport, session.auth)
    // Fast path: a plain synchronous result is answered without a promise.
    let result: unknown
    try {
      result = handler(input, ctx)
    } catch (thrown) {
      return this.settle(id, channel, ctx, streamOutcome(thrown, ctx.signal))
    }
    if (!isAsync(result)) return this.settle(id, channel, ctx, { _tag: "success", value: result })
    this.calls.set(id, ctx)
    void runRpc(() => result, input, ctx, session.runtime.services).then((outcome) => {
      if (this.calls.get(id) !== ctx) return
      this.calls.delete(id)
      this.settle(id, channel, ctx, outcome)
    })
  }

  stream(id: number, name: string, rawInput: unknown, credit: number): void {
    const { session } = this
    const admitted = this.admit(id, session.runtime.compiled.streams.get(name), name, rawInput)
    if (!admitted) return
    const state: StreamState = {
      ctx: new CallContext(session.id, session.transport, session.auth),
      unreliable: admitted.channel.delivery === "unreliable",
      sent: 0,
      credit,
      wake: undefined,
      iterator: undefined,
    }
    this.streams.set(id, state)
    void this.pump(id, admitted.channel, admitted.input, state)
  }

  credit(id: number, credit: number): void {
    const stream = this.streams.get(id)
    if (!stream) return
    stream.credit = Math.min(stream.credit + credit, MAX_CREDIT)
    stream.wake?.()
  }

  cancel(id: number): void {
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

  /** Common admission of a call or stream: id free, channel known, input valid, capacity left. */
  private admit<Ch extends CompiledRpc | CompiledStream>(
    id: number,
    channel: Ch | undefined,
    name: string,
    input: unknown,
  ): { channel: Ch; input: unknown } | undefined {
    const { session } = this
    if (this.calls.has(id) || this.streams.has(id)) return void session.fail(id, "DUPLICATE_ID", `id ${id} is in use`)
    if (!channel) return void session.fail(id, "UNKNOWN_CHANNEL", `no such channel: ${JSON.stringify(name)}`)
    const { maxInFlight } = session.runtime.limits
    if (this.calls.size + this.streams.size >= maxInFlight) {
      return void session.fail(id, "LIMIT_EXCEEDED", `more than ${maxInFlight} calls in flight`)
    }
    const decoded = channel.input.decode(input)
    if (!decoded.ok) return void session.fail(id, "INVALID_INPUT", `${name}: ${decoded.error}`)
    return { channel, input: decoded.value }
  }

  private settle(id: number, channel: CompiledRpc | CompiledStream, ctx: CallContext, outcome: HandlerOutcome): void {
    const { session } = this
    if (ctx.aborted || session.isEnded) return
    if (outcome._tag === "success") {
      if (channel.kind === "stream") return session.send(FrameType.END, body.end(id))
      const json = encodePayload(channel.output, outcome.value)
      if (json === undefined) {
        session.runtime.onError(new Error(`${channel.name} returned a value that does not match its schema`), {
          sessionId: session.id,
          channel: channel.name,
        })
        return session.fail(id, "INVALID_OUTPUT", `${channel.name}: the server produced an invalid result`)
      }
      return session.send(FrameType.RESULT, body.result(id, json))
    }
    if (outcome._tag === "failure" && channel.error) {
      const json = encodePayload(channel.error, outcome.error)
      if (json !== undefined) return session.fail(id, "FAILURE", failureMessage(channel.name, outcome.error), json)
    }
    if (outcome._tag === "interrupted") {
      // The caller did not cancel and the session did not end (both returned above): the handler
      // interrupted itself, and the caller still needs an answer.
      return session.fail(id, "CANCELLED", `${channel.name}: the handler was interrupted`)
    }
    const cause =
      outcome._tag === "defect" ? outcome.cause : new Error(`${channel.name} failed with an undeclared error`)
    session.runtime.onError(cause, { sessionId: session.id, channel: channel.name })
    session.fail(id, "INTERNAL_ERROR", `${channel.name}: internal error`)
  }

  /**
   * Pulls items while the client has granted credit; waits for CREDIT frames when it has not. An
   * unreliable stream ignores credit: it is pulled at the producer's pace, at most one item per turn of
   * the event loop (so that a producer that never waits cannot starve the server), and its items are
   * conflated on the link instead of queueing.
   */
  private async pump(id: number, channel: CompiledStream, input: unknown, state: StreamState): Promise<void> {
    const { session } = this
    const { ctx } = state
    const live = () => !ctx.aborted && !session.isEnded
    try {
      const handler = session.runtime.streams.get(channel.name) as AnyHandler
      const iterator = streamIterator(handler(input, ctx), session.runtime.services)
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
        const json = encodePayload(channel.item, next.value)
        if (json === undefined) {
          this.stopStream(state, "INVALID_OUTPUT")
          this.streams.delete(id)
          session.runtime.onError(new Error(`${channel.name} yielded an item that does not match its schema`), {
            sessionId: session.id,
            channel: channel.name,
          })
          return session.fail(id, "INVALID_OUTPUT", `${channel.name}: the server produced an invalid item`)
        }
        if (state.unreliable) {
          session.deliverLatest(state, unreliableFrame(++state.sent, body.item(id, json)))
          // Also lets the link write this item before an END that may follow.
          await nextTurn()
          continue
        }
        state.credit--
        session.send(FrameType.ITEM, body.item(id, json))
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
}

/** The message of a declared failure: its own `message`, else its `_tag`, else a generic one. */
function failureMessage(channel: string, error: unknown): string {
  try {
    if (error !== null && typeof error === "object") {
      const e = error as { message?: unknown; _tag?: unknown }
      if (typeof e.message === "string") return e.message
      if (typeof e._tag === "string") return `${channel} failed: ${e._tag}`
    }
  } catch {
    // A getter that throws: the generic message will do.
  }
  return `${channel} failed`
}

/** Resolves on the next turn of the event loop, after I/O. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
