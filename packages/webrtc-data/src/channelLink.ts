import type { Link } from "@switchyard/core"

/** The part of `RTCDataChannel` a link uses (the browser's, or node-datachannel's polyfill). */
export interface DataChannelLike {
  readonly readyState: string
  readonly bufferedAmount: number
  onopen: ((event: never) => void) | null
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  send(data: string): void
  close(): void
}

/** What a channel link reports: the same three events as any link. */
export interface ChannelEvents {
  open(): void
  frame(data: string): void
  close(code: number, reason: string): void
}

/**
 * Messages above this many characters are split. Data channels refuse messages over the peer's
 * `maxMessageSize` (64 KiB is the floor every implementation takes; Chromium takes 256 KiB), and a
 * character takes up to 3 bytes in UTF-8.
 */
export const DEFAULT_CHUNK_CHARS = Math.floor((64 * 1024) / 3) - 1

/** Prefixes of the pieces of a split frame. A frame is a JSON array, so it always starts with `[`. */
const MORE = "\u0001"
const LAST = "\u0002"

/**
 * A session link over a reliable, ordered data channel. A frame longer than `chunkChars` goes as
 * pieces, each under the channel's message size limit, and is put back together on the other side;
 * the channel keeps them in order, so no other framing is needed. `close` calls `onClose` (to close the
 * peer connection) and reports the close once, as the channel's own close would.
 */
export function channelLink(
  channel: DataChannelLike,
  events: ChannelEvents,
  onClose: () => void,
  chunkChars = DEFAULT_CHUNK_CHARS,
): Link & { readonly channel: DataChannelLike } {
  let closed = false
  /** The close this side asked for, reported instead of the channel's own. */
  let requested: [number, string] | undefined
  let pieces: string[] = []
  let piecesLength = 0
  const finish = (code: number, reason: string) => {
    if (closed) return
    closed = true
    pieces = []
    onClose()
    events.close(code, reason)
  }
  channel.onopen = () => {
    if (!closed) events.open()
  }
  channel.onmessage = ((event: { readonly data: unknown }) => {
    if (closed) return
    const data = event.data
    if (typeof data !== "string") return finish(1003, "binary data on the session channel")
    const mark = data.charCodeAt(0)
    if (mark === 1 || mark === 2) {
      piecesLength += data.length - 1
      // A peer may not make the other side buffer without bound: a frame is at most a few MiB.
      if (piecesLength > MAX_FRAME_CHARS) return finish(1009, "frame too large")
      pieces.push(data.slice(1))
      if (mark === 1) return
      const whole = pieces.join("")
      pieces = []
      piecesLength = 0
      return events.frame(whole)
    }
    if (pieces.length > 0) return finish(1002, "a frame interrupted a split frame")
    events.frame(data)
  }) as never
  channel.onclose = () => finish(...(requested ?? [1006, ""]))
  channel.onerror = () => finish(...(requested ?? [1006, ""]))
  return {
    channel,
    send(frame) {
      // `requested`: node-datachannel's channel stays "open" until its close completes.
      if (closed || requested || channel.readyState !== "open") return
      try {
        if (frame.length <= chunkChars) return channel.send(frame)
        for (let at = 0; at < frame.length; ) {
          let end = Math.min(at + chunkChars, frame.length)
          // A piece travels as UTF-8, which cannot carry half of a surrogate pair: never split one.
          if (end < frame.length && end - 1 > at && isHighSurrogate(frame.charCodeAt(end - 1))) end--
          channel.send((end === frame.length ? LAST : MORE) + frame.slice(at, end))
          at = end
        }
      } catch {
        finish(1006, "send failed")
      }
    },
    close(code, reason) {
      if (closed || requested) return
      requested = [code, reason]
      try {
        channel.close()
      } catch {
        // Already closing: the outcome is the same.
      }
      // Reported after the caller is done, like a socket's close event.
      queueMicrotask(() => finish(code, reason))
    },
  }
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

/** The largest frame a channel link puts back together (characters): above any server's message cap. */
export const MAX_FRAME_CHARS = 8 * 1024 * 1024

export { LAST as LAST_PIECE, MORE as MORE_PIECES }
