import type {
  CompiledStream,
  FrameType,
  ServerDataFrame,
  StreamCallOptions,
  SwitchyardError,
  UnreliableItemFrame,
} from "@switchyard/core"
import type { FeatureKit } from "./featureKit.ts"
import { StreamConsumer } from "./streamConsumer.ts"
import type { Pending, Wire } from "./wire.ts"

// Frame types as typed literals: importing `FrameType`, a value, would put core in a chunk shared with
// the root entry point (`featureKit.ts` says why); the types check each number against the enum.
const STREAM: FrameType.STREAM = 4
const ITEM: FrameType.ITEM = 5
const END: FrameType.END = 6
const ERROR: FrameType.ERROR = 3
const CANCEL: FrameType.CANCEL = 7
const CREDIT: FrameType.CREDIT = 8

/**
 * The client's open streams: their STREAM frames, their items (ITEM, END, ERROR, UNRELIABLE), and what
 * happens to them when the server loses the session. Loaded with `import()` when the app first opens a
 * stream (the runtime holds later operations back until it is there), so it imports types only and gets
 * what it runs of core from `kit` (`featureKit.ts` says why).
 */
export class Streams {
  readonly #consumers = new Map<number, StreamConsumer>()
  readonly #wire: Wire
  readonly #kit: FeatureKit

  constructor(wire: Wire, kit: FeatureKit) {
    this.#wire = wire
    this.#kit = kit
  }

  /**
   * Opens a stream: sends its STREAM frame and returns the iterator its items arrive in. A stream that
   * cannot start (invalid input, closed client, aborted, too large, queue full) fails on its first `next`.
   */
  open(
    name: string,
    channel: CompiledStream,
    input: unknown,
    options: StreamCallOptions | undefined,
  ): AsyncIterator<unknown> {
    const kit = this.#kit
    const wire = this.#wire
    const requested = Math.floor(options?.window ?? kit.defaultStreamWindow) || kit.defaultStreamWindow
    const window = Math.max(1, Math.min(requested, kit.maxStreamWindow))
    const id = wire.nextId()
    const signal = options?.signal
    const onAbort = () => consumer.abort(kit.error("CANCELLED", "the stream was aborted"))
    const consumer = new StreamConsumer(
      id,
      channel.item,
      channel.error,
      window,
      {
        credit: (n) => wire.send(CREDIT, kit.body.credit(id, n), true),
        cancel: () => {
          if (this.#consumers.get(id) !== consumer) return
          this.#consumers.delete(id)
          wire.send(CANCEL, kit.body.cancel(id), true)
        },
        finished: () => signal?.removeEventListener("abort", onAbort),
        invalid: (error) => kit.error("INVALID_OUTPUT", `the server sent an invalid item: ${error}`),
      },
      channel.delivery === "unreliable",
    )
    const json = kit.encodeInput(channel.input, input, name)
    if (typeof json !== "string") consumer.fail(json)
    else if (wire.closed) consumer.fail(kit.closedError())
    else if (signal?.aborted) consumer.fail(kit.error("CANCELLED", "aborted before it was sent"))
    else {
      const frameBody = kit.body.stream(id, name, json, window)
      const refused = wire.oversize(frameBody, json)
      consumer.frameBody = frameBody
      consumer.seq = refused ? 0 : wire.send(STREAM, frameBody)
      if (refused) consumer.fail(refused)
      else if (consumer.seq === 0) consumer.fail(kit.queueFull())
      else {
        this.#consumers.set(id, consumer)
        signal?.addEventListener("abort", onAbort, { once: true })
      }
    }
    return consumer
  }

  /** An ITEM or END frame, or an ERROR that answers no request. */
  answer(frame: ServerDataFrame): void {
    const consumer = this.#consumers.get(frame[2] as number)
    if (!consumer) return
    if (frame[0] === ITEM) return consumer.push(frame[3])
    this.#consumers.delete(frame[2] as number)
    if (frame[0] === END) return consumer.end()
    if (frame[0] === ERROR) {
      consumer.fail(this.#kit.remoteError(frame[3], frame[4], frame[5], consumer.error))
    }
  }

  /** An UNRELIABLE stream item: delivered only when newer than the last delivered there. */
  latest(frame: UnreliableItemFrame): void {
    this.#consumers.get(frame[2])?.latest(frame[1], frame[3])
  }

  /**
   * The server lost the session (`written`: the last frame it may have had): a stream whose STREAM frame
   * never left is returned to be sent again in the next session; every other stream ends.
   */
  lost(error: SwitchyardError, written: number): Pending[] {
    const reissue: Pending[] = []
    for (const [id, consumer] of this.#consumers) {
      if (consumer.seq > written && consumer.frameBody !== undefined) {
        reissue.push({
          id,
          kind: "rpc",
          seq: consumer.seq,
          frameType: STREAM,
          frameBody: consumer.frameBody,
          output: undefined,
          error: undefined,
          resolve: () => {},
          reject: (e) => {
            this.#consumers.delete(id)
            consumer.fail(e)
          },
          resent: (seq) => {
            consumer.seq = seq
          },
        })
        continue
      }
      this.#consumers.delete(id)
      consumer.fail(this.#kit.error("SESSION_LOST", `${error.message}; the stream ended`))
    }
    return reissue
  }

  /** Ends every stream with `error`. */
  shutdown(error: SwitchyardError): void {
    for (const consumer of this.#consumers.values()) consumer.fail(error)
    this.#consumers.clear()
  }
}
