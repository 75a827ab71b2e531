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
 * Follows the frames of a client's WebSocket stream (RFC 6455 §5.2) without keeping their payloads: after
 * each chunk, how many bytes (headers and payloads) belong to a data message whose last frame has not
 * arrived yet. Control frames (at most 125 bytes of payload, between fragments) do not count. The header
 * is kept as numbers (its first two bytes and the extended length), not in a buffer of its own.
 */
class FrameReaderState {
  /** Data messages whose last byte has been read. */
  messagesEnded = 0
  private unfinished = 0
  /** The header's first two bytes, and the extended payload length read so far. */
  private first = 0
  private second = 0
  private extended = 0
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
      const byte = chunk[at++] as number
      const i = this.headerRead++
      if (i === 0) this.first = byte
      else if (i === 1) this.second = byte
      else if (i < this.lengthEnd) this.extended = this.extended * 256 + byte
      if (!this.isControl) this.unfinished++
      if (this.headerRead === 2) {
        const length = this.second & 0x7f
        const masked = (this.second & 0x80) !== 0
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
    return this.headerRead > 0 && (this.first & 0x08) !== 0
  }

  /** Where the extended payload length ends in the header. */
  private get lengthEnd(): number {
    const length = this.second & 0x7f
    return length === 126 ? 4 : length === 127 ? 10 : 2
  }

  private payloadLength(): number {
    const length = this.second & 0x7f
    // Past 2^53 the count is inexact, but `ws` refuses anything over its `maxPayload` long before.
    return length === 126 || length === 127 ? this.extended : length
  }

  private frameEnded(): void {
    const fin = (this.first & 0x80) !== 0
    if (!this.isControl && fin) {
      this.unfinished = 0
      this.messagesEnded++
    }
    this.headerRead = 0
    this.headerSize = 2
    this.extended = 0
  }
}

/** The frame reader on its own (the watcher above is one with the socket's accounting on top). */
export class FrameReader extends FrameReaderState {}

/** Whom `watchUnfinishedMessages` tells that a connection must go (the WebSocket's link). */
export interface UnfinishedOwner {
  refuseUnfinished(refusal: UnfinishedRefusal): void
}

/**
 * Puts itself between `socket` and its `'data'` listeners (`ws`'s), which then see only the chunks it lets
 * through. Each wrapper carries the listener it wraps as `.listener`, as `once` wrappers do, so that `ws`
 * still removes its own listener when it stops reading (after a frame over `maxPayload`). Every connection
 * has one: it is one object, and a wrapper per listener its only closure (docs/performance.md#idle-connections).
 */
export function watchUnfinishedMessages(
  socket: Socket,
  address: string | undefined,
  incomplete: IncompleteBytes,
  readTimeoutMs: number,
  owner: UnfinishedOwner,
): UnfinishedMessages {
  return new UnfinishedWatch(socket, address, incomplete, readTimeoutMs, owner)
}

class UnfinishedWatch extends FrameReaderState implements UnfinishedMessages {
  held = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private refused = false
  /** Whether the chunk being emitted now may reach the listeners; decided once, by the first wrapper. */
  admitted = false
  /** The listener whose wrapper decides. */
  readonly decider: DataListener | undefined
  /** The wrappers put in place of the socket's listeners: one (`ws`'s), or a list. */
  private readonly wrappers: DataListener | DataListener[]

  constructor(
    private readonly socket: Socket,
    private readonly address: string | undefined,
    private readonly incomplete: IncompleteBytes,
    private readonly readTimeoutMs: number,
    private readonly owner: UnfinishedOwner,
  ) {
    super()
    const listeners = socket.listeners("data") as DataListener[]
    this.decider = listeners[0]
    ;(socket as WatchedSocket)[WATCH] = this
    const wrappers = listeners.map(wrapperOf)
    for (const fn of listeners) socket.removeListener("data", fn)
    for (const wrapper of wrappers) socket.on("data", wrapper)
    this.wrappers = wrappers.length === 1 ? (wrappers[0] as DataListener) : wrappers
  }

  release(): void {
    this.stopTimer()
    this.incomplete.give(this.address, this.held)
    this.held = 0
  }

  /** Counts a chunk; false when it may not reach the listeners (the connection is refused). */
  admit(chunk: Buffer): boolean {
    if (this.refused) return false
    const before = this.held
    const ended = this.messagesEnded
    const after = this.read(chunk)
    if (after > before) {
      if (this.incomplete.take(this.address, after - before)) {
        this.stop("SERVER_BUSY")
        return false
      }
    } else this.incomplete.give(this.address, before - after)
    this.held = after
    if (after === 0) this.stopTimer()
    else if (this.timer === undefined || this.messagesEnded !== ended) {
      // A new message started in this chunk: its own time starts.
      this.stopTimer()
      this.timer = setTimeout(readTimedOut, this.readTimeoutMs, this)
    }
    return true
  }

  stop(refusal: UnfinishedRefusal): void {
    if (this.refused) return
    this.refused = true
    this.stopTimer()
    for (const wrapper of Array.isArray(this.wrappers) ? this.wrappers : [this.wrappers]) {
      this.socket.removeListener("data", wrapper)
    }
    // What still comes is read and dropped, so that the client's writes are not reset before it reads the close.
    this.socket.resume()
    this.owner.refuseUnfinished(refusal)
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

type DataListener = (chunk: Buffer) => void

/** The socket's watch, for the wrappers, which are shared by every socket. */
const WATCH = Symbol("unfinishedMessages")

interface WatchedSocket extends Socket {
  [WATCH]?: UnfinishedWatch
}

/**
 * The wrappers, one per listener function: `ws` listens with the same function on every socket, so every
 * connection shares one wrapper and allocates none; the wrapper finds its socket's watch on the socket.
 */
const wrappers = new WeakMap<DataListener, DataListener>()

/** The wrapper of one `'data'` listener; the first listener's decides, for each chunk, whether it goes on. */
function wrapperOf(fn: DataListener): DataListener {
  let wrapper = wrappers.get(fn)
  if (wrapper) return wrapper
  wrapper = Object.assign(
    function (this: WatchedSocket, chunk: Buffer) {
      const watch = this[WATCH]
      if (!watch) return fn.call(this, chunk)
      if (watch.decider === fn) watch.admitted = watch.admit(chunk)
      if (watch.admitted) fn.call(this, chunk)
    },
    { listener: fn },
  )
  wrappers.set(fn, wrapper)
  return wrapper
}

function readTimedOut(watch: UnfinishedWatch): void {
  watch.stop("READ_TIMEOUT")
}
