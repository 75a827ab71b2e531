import type { Socket } from "node:net"
import type { IncompleteBytes } from "../incompleteBytes.ts"

/**
 * Bounds what unfinished WebSocket messages hold (docs/limits.md#bodies-and-messages-being-read). `ws`
 * keeps a message's bytes until its last frame arrives, up to `maxPayload`; nothing in its API says how much
 * it holds. So the bytes are counted on the raw socket before `ws` sees them: a small reader of frame
 * headers follows the client's frames and knows, after each chunk, how many bytes belong to a data message
 * not finished yet. That many are taken from the server's `IncompleteBytes` (a message that ends within the
 * chunk it started in takes nothing), and given back as the message ends. A chunk that would pass the
 * address's or the server's bound never reaches `ws`: the connection is refused with `SERVER_BUSY`; a
 * message not finished within `readTimeoutMs` of its first byte, with `READ_TIMEOUT`.
 */
export interface UnfinishedMessages {
  /** Bytes of the unfinished message held now. */
  readonly held: number
  /** Gives everything back and stops the timer (the connection closed). */
  release(): void
}

/** Why a connection is refused by `watchUnfinishedMessages`: past a bound of `IncompleteBytes`, or too slow. */
export type UnfinishedRefusal = "SERVER_BUSY" | "READ_TIMEOUT"

/**
 * Puts itself between `socket` and its `'data'` listeners (`ws`'s), which then see only the chunks it lets
 * through. Each wrapper carries the listener it wraps as `.listener`, as `once` wrappers do, so that `ws`
 * still removes its own listener when it stops reading (after a frame over `maxPayload`).
 */
export function watchUnfinishedMessages(
  socket: Socket,
  address: string | undefined,
  incomplete: IncompleteBytes,
  readTimeoutMs: number,
  refuse: (refusal: UnfinishedRefusal) => void,
): UnfinishedMessages {
  const frames = new FrameReader()
  let held = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let refused = false
  const stopTimer = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }
  const stop = (refusal: UnfinishedRefusal) => {
    if (refused) return
    refused = true
    stopTimer()
    for (const wrapper of wrappers) socket.removeListener("data", wrapper)
    // What still comes is read and dropped, so that the client's writes are not reset before it reads the close.
    socket.resume()
    refuse(refusal)
  }
  /** Whether the chunk being emitted now may reach the listeners; decided once, by the first wrapper. */
  let admitted = false
  const admit = (chunk: Buffer): boolean => {
    const before = held
    const ended = frames.messagesEnded
    const after = frames.read(chunk)
    if (after > before) {
      if (incomplete.take(address, after - before)) {
        stop("SERVER_BUSY")
        return false
      }
    } else incomplete.give(address, before - after)
    held = after
    if (after === 0) stopTimer()
    else if (timer === undefined || frames.messagesEnded !== ended) {
      // A new message started in this chunk: its own time starts.
      stopTimer()
      timer = setTimeout(() => stop("READ_TIMEOUT"), readTimeoutMs)
    }
    return true
  }
  const wrappers = socket.listeners("data").map((listener, index) => {
    const fn = listener as (chunk: Buffer) => void
    const wrapper = Object.assign(
      function (this: Socket, chunk: Buffer) {
        if (index === 0) admitted = !refused && admit(chunk)
        if (admitted) fn.call(this, chunk)
      },
      { listener: fn },
    )
    socket.removeListener("data", fn)
    return wrapper
  })
  for (const wrapper of wrappers) socket.on("data", wrapper)
  return {
    get held() {
      return held
    },
    release() {
      stopTimer()
      incomplete.give(address, held)
      held = 0
    },
  }
}

/**
 * Follows the frames of a client's WebSocket stream (RFC 6455 §5.2) without keeping their payloads: after
 * each chunk, how many bytes (headers and payloads) belong to a data message whose last frame has not
 * arrived yet. Control frames (at most 125 bytes of payload, between fragments) do not count.
 */
export class FrameReader {
  /** Data messages whose last byte has been read. */
  messagesEnded = 0
  private unfinished = 0
  private readonly header = Buffer.alloc(14)
  private headerRead = 0
  private headerSize = 2
  private payloadLeft = 0

  /** Reads a chunk; returns the bytes of the unfinished data message after it. */
  read(chunk: Buffer): number {
    let at = 0
    while (at < chunk.length) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - at)
        this.payloadLeft -= n
        at += n
        if (!this.isControl) this.unfinished += n
        if (this.payloadLeft === 0) this.frameEnded()
        continue
      }
      this.header[this.headerRead++] = chunk[at++] as number
      if (!this.isControl) this.unfinished++
      if (this.headerRead === 2) {
        const length = (this.header[1] as number) & 0x7f
        const masked = ((this.header[1] as number) & 0x80) !== 0
        this.headerSize = 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (masked ? 4 : 0)
      }
      if (this.headerRead >= 2 && this.headerRead === this.headerSize) {
        this.payloadLeft = this.payloadLength()
        if (this.payloadLeft === 0) this.frameEnded()
      }
    }
    return this.unfinished
  }

  private get isControl(): boolean {
    return this.headerRead > 0 && ((this.header[0] as number) & 0x08) !== 0
  }

  private payloadLength(): number {
    const length = (this.header[1] as number) & 0x7f
    if (length === 126) return this.header.readUInt16BE(2)
    // Past 2^53 the count is inexact, but `ws` refuses anything over its `maxPayload` long before.
    if (length === 127) return Number(this.header.readBigUInt64BE(2))
    return length
  }

  private frameEnded(): void {
    const fin = ((this.header[0] as number) & 0x80) !== 0
    if (!this.isControl && fin) {
      this.unfinished = 0
      this.messagesEnded++
    }
    this.headerRead = 0
    this.headerSize = 2
  }
}
