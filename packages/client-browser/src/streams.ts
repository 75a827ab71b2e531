import { type CompiledStream, clientBody, FrameType, type StreamCallOptions, switchyardError } from "@switchyard/core"
import type { Calls } from "./calls.ts"
import { encodeInput } from "./encoding.ts"
import { defaultStreamWindow, maxStreamWindow } from "./options.ts"
import { StreamConsumer } from "./streamConsumer.ts"
import { closedError, queueFull, type Wire } from "./wire.ts"

/**
 * Opens a stream: sends its STREAM frame and returns the iterator its items arrive in. A stream that
 * cannot start (invalid input, closed client, aborted, too large, queue full) fails on its first `next`.
 */
export function openStream(
  wire: Wire,
  calls: Calls,
  name: string,
  channel: CompiledStream,
  input: unknown,
  options: StreamCallOptions | undefined,
): AsyncIterator<unknown> {
  const requested = Math.floor(options?.window ?? defaultStreamWindow) || defaultStreamWindow
  const window = Math.max(1, Math.min(requested, maxStreamWindow))
  const id = wire.nextId()
  const signal = options?.signal
  const onAbort = () => consumer.abort(switchyardError("CANCELLED", "the stream was aborted"))
  const consumer = new StreamConsumer(
    id,
    channel.item,
    channel.error,
    window,
    {
      credit: (n) => wire.send(FrameType.CREDIT, clientBody.credit(id, n), true),
      cancel: () => {
        if (calls.streams.get(id) !== consumer) return
        calls.streams.delete(id)
        wire.send(FrameType.CANCEL, clientBody.cancel(id), true)
      },
      finished: () => signal?.removeEventListener("abort", onAbort),
    },
    channel.delivery === "unreliable",
  )
  const json = encodeInput(channel.input, input, name)
  if (typeof json !== "string") consumer.fail(json)
  else if (wire.closed) consumer.fail(closedError())
  else if (signal?.aborted) consumer.fail(switchyardError("CANCELLED", "aborted before it was sent"))
  else {
    const frameBody = clientBody.stream(id, name, json, window)
    const refused = wire.oversize(frameBody, json)
    consumer.frameBody = frameBody
    consumer.seq = refused ? 0 : wire.send(FrameType.STREAM, frameBody)
    if (refused) consumer.fail(refused)
    else if (consumer.seq === 0) consumer.fail(queueFull())
    else {
      calls.streams.set(id, consumer)
      signal?.addEventListener("abort", onAbort, { once: true })
    }
  }
  return consumer
}
