import { isEncodedUnreliable, type Link, latestPerTick } from "@switchyard/core"

/** The part of `RTCDataChannel` a link uses (the browser's, or node-datachannel's polyfill). */
export interface DataChannelLike {
  readonly readyState: string
  readonly bufferedAmount: number
  onopen: ((event: never) => void) | null
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  /** Where the channel says it drained below `bufferedAmountLowThreshold`; unreliable frames wait for it. */
  bufferedAmountLowThreshold?: number
  onbufferedamountlow?: ((event: never) => void) | null
  send(data: string): void
  close(): void
}

/**
 * The label of the second channel of a peer connection: unordered and without retransmissions, for
 * UNRELIABLE frames (docs/delivery.md). Both ends create it themselves (`negotiated`, with the fixed id
 * `UNRELIABLE_CHANNEL_ID`): an answering node-datachannel peer cannot read a remote channel's options.
 */
export const UNRELIABLE_CHANNEL = "switchyard-unreliable"
/** The SCTP stream id of the unreliable channel; in-band channels (the session's) never take it. */
export const UNRELIABLE_CHANNEL_ID = 16
/** The options both ends create the unreliable channel with. */
export const UNRELIABLE_CHANNEL_OPTIONS = {
  negotiated: true,
  id: UNRELIABLE_CHANNEL_ID,
  ordered: false,
  maxRetransmits: 0,
} as const

/**
 * Unreliable frames are written only while the channel they go on holds at most this many bytes; above
 * it, the latest per slot waits for `bufferedamountlow` (docs/limits.md).
 */
export const UNRELIABLE_BUFFERED_BYTES = 64 * 1024

/** The unreliable channel of a link, and whether frames arriving on it are read (the client's) or ignored. */
export interface LossyChannel {
  readonly channel: DataChannelLike
  readonly read: boolean
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
/** Prefix of the closing message: the sender is done, and the receiver closes the channel. */
const CLOSING = "\u0003"
/** The longest reason a closing message carries, as a WebSocket close frame's. */
const MAX_REASON_CHARS = 123
/** Between the frames of one message. */
const SEPARATOR = "\n"

/**
 * A session link over a reliable, ordered data channel. A frame longer than `chunkChars` goes as
 * pieces, each under the channel's message size limit, and is put back together on the other side;
 * the channel keeps them in order, so no other framing is needed. `close` calls `onClose` (to close the
 * peer connection) and reports the close once, as the channel's own close would.
 *
 * Closing is a handshake, as WebSocket's is: the side that closes sends a closing message (`\u0003`, the
 * code, a space, the reason) after its last frames and leaves the channel open; the other side reads
 * up to it, then closes the channel. A side that closed the channel itself right after its last
 * message could lose that message: node-datachannel reports a channel closed by its own side at once,
 * and a peer connection closed then takes what the channel had not yet sent (docs/webrtc.md).
 *
 * With a `lossy` channel, UNRELIABLE frames (`sendLatest`) go there while it is open, and on the session
 * channel otherwise, latest-value-wins either way; a frame too long for one message always takes the
 * session channel, as pieces cannot be put back together from a channel that loses and reorders them.
 * Frames read from the lossy channel reach `events.frame` like any other, whole messages only.
 *
 * `lost(reason)` ends the link when the path under the channel is gone (its peer connection failed):
 * reported at once with 1006, and `onClose` called at once, with no closing message, since nothing could
 * carry it. A channel found closing or closed when a frame is written ends the link the same way.
 */
export function channelLink(
  channel: DataChannelLike,
  events: ChannelEvents,
  onClose: () => void,
  chunkChars = DEFAULT_CHUNK_CHARS,
  lossy?: LossyChannel,
  maxFrameChars = MAX_FRAME_CHARS,
): Link & { readonly channel: DataChannelLike; lost(reason: string): void } {
  let closed = false
  /** The close this side asked for, reported instead of the channel's own. */
  let requested: [number, string] | undefined
  let pieces: string[] = []
  let piecesLength = 0
  /**
   * `onClose` (closing the peer connection) waits, after a close this side asked for, until the other side
   * has closed the channel (its closing message, or the channel's close): closing the peer connection at
   * once would drop what the channel still holds, such as the BYE written just before the close. A side
   * that never closes it is given `CLOSE_GRACE_MS` from the moment the channel has sent everything, and
   * `MAX_CLOSE_WAIT_MS` in all.
   */
  let released = false
  const timers: Array<ReturnType<typeof setTimeout>> = []
  const after = (ms: number) => {
    const timer = setTimeout(release, ms)
    ;(timer as { unref?: () => void }).unref?.()
    timers.push(timer)
  }
  const release = () => {
    if (released) return
    released = true
    for (const timer of timers) clearTimeout(timer)
    onClose()
  }
  const finish = (code: number, reason: string, releaseNow = true) => {
    if (closed) return
    closed = true
    pieces = []
    batch = ""
    latest.clear()
    if (releaseNow) release()
    events.close(code, reason)
  }
  channel.onopen = () => {
    if (!closed) events.open()
  }
  channel.onmessage = ((event: { readonly data: unknown }) => {
    const data = event.data
    // The other side is done: everything it sent has been read, so this side closes the channel.
    if (typeof data === "string" && data.charCodeAt(0) === 3) return closedByPeer(data)
    // After a close this side asked for, nothing more is read (a refused link must not open a session).
    if (closed || requested) return
    if (typeof data !== "string") return finish(1003, "binary data on the session channel")
    const mark = data.charCodeAt(0)
    if (mark === 1 || mark === 2) {
      piecesLength += data.length - 1
      // A peer may not make the other side buffer without bound: a frame is at most a few MiB.
      if (piecesLength > maxFrameChars) return finish(1009, "frame too large")
      pieces.push(data.slice(1))
      if (mark === 1) return
      const whole = pieces.join("")
      pieces = []
      piecesLength = 0
      return events.frame(whole)
    }
    if (pieces.length > 0) return finish(1002, "a frame interrupted a split frame")
    // One message carries the frames of one tick, separated by LF (a frame never holds a raw LF).
    if (data.indexOf(SEPARATOR) === -1) return events.frame(data)
    for (const frame of data.split(SEPARATOR)) {
      if (closed || requested) return
      if (frame.length > 0) events.frame(frame)
    }
  }) as never
  const closedByPeer = (message: string) => {
    // Both sides may close at once: each then reads the other's closing message after its own.
    if (released) return
    finish(...(requested ?? closingOf(message)), false)
    closeChannel()
    release()
  }
  const closeChannel = () => {
    try {
      channel.close()
    } catch {
      // Already closing: the outcome is the same.
    }
  }
  /** The channel or the path under it is gone: the link ends now, and nothing waits for a handshake. */
  const lost = (reason: string) => {
    finish(...(requested ?? [1006, reason]))
    release()
  }
  channel.onclose = () => lost("")
  channel.onerror = () => lost("")
  /** Whether the channel is gone although no event said so; then the link ends (frames would vanish). */
  const gone = () => {
    const state = channel.readyState
    if (state !== "closing" && state !== "closed") return false
    lost("the data channel closed")
    return true
  }
  /**
   * The frames written in this tick, joined by LF: they go as one message at its end (or sooner, when the
   * next would make it longer than `chunkChars`). A message costs a crossing into the WebRTC stack and an
   * SCTP message of its own, whatever its size; pipelined calls send many frames a tick.
   */
  let batch = ""
  let flushQueued = false
  const flush = () => {
    flushQueued = false
    if (batch.length === 0) return
    const text = batch
    batch = ""
    if (closed || gone() || channel.readyState !== "open") return
    try {
      channel.send(text)
    } catch {
      finish(1006, "send failed")
    }
  }
  const send = (frame: string) => {
    // `requested`: node-datachannel's channel stays "open" until its close completes.
    if (closed || requested || gone() || channel.readyState !== "open") return
    if (frame.length <= chunkChars) {
      if (batch.length > 0 && batch.length + 1 + frame.length > chunkChars) flush()
      batch = batch.length === 0 ? frame : batch + SEPARATOR + frame
      if (!flushQueued) {
        flushQueued = true
        queueMicrotask(flush)
      }
      return
    }
    // Too long for one message: what waits goes first, then the frame in pieces.
    flush()
    try {
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
  }
  /** Sends the closing message; false when the channel cannot carry it (not open, or broken). */
  const sendClosing = (code: number, reason: string): boolean => {
    if (channel.readyState !== "open") return false
    try {
      channel.send(`${CLOSING}${code} ${clip(reason)}`)
      return true
    } catch {
      return false
    }
  }
  const other = lossy?.channel
  const lossyOpen = () => other !== undefined && other.readyState === "open"
  const latest = latestPerTick({
    write(frame) {
      if (!lossyOpen() || frame.length > chunkChars) return send(frame)
      try {
        other?.send(frame)
      } catch {
        // The lossy channel failed: this frame is lost, as it may be on that channel anyway.
      }
    },
    congested: () => (lossyOpen() ? (other as DataChannelLike) : channel).bufferedAmount > UNRELIABLE_BUFFERED_BYTES,
    defer: queueMicrotask,
  })
  for (const c of other ? [channel, other] : [channel]) {
    c.bufferedAmountLowThreshold = UNRELIABLE_BUFFERED_BYTES
    c.onbufferedamountlow = () => latest.flush()
  }
  if (other) {
    other.onmessage = ((event: { readonly data: unknown }) => {
      const data = event.data
      // Only whole UNRELIABLE frames travel there: anything else (binary, pieces, a sequenced frame that
      // would then bypass the session channel's order) is dropped.
      if (closed || !lossy?.read || typeof data !== "string" || !isEncodedUnreliable(data)) return
      events.frame(data)
    }) as never
    // Its close or failure is no event of the link: unreliable frames then take the session channel.
  }
  return {
    channel,
    lost,
    send,
    sendLatest(slot, frame) {
      if (!closed) latest.send(slot, frame)
    },
    close(code, reason) {
      if (closed || requested) return
      // What this tick wrote goes before the close (a BYE, say).
      flush()
      requested = [code, reason]
      if (!sendClosing(code, reason)) closeChannel()
      // Reported after the caller is done, like a socket's close event. The peer connection goes when the
      // other side has closed the channel, or after a grace period counted from when the channel has sent
      // what it holds (a slow path may take longer than the grace period to carry it).
      queueMicrotask(() => finish(code, reason, false))
      after(MAX_CLOSE_WAIT_MS)
      if (channel.bufferedAmount === 0) return after(CLOSE_GRACE_MS)
      channel.bufferedAmountLowThreshold = 0
      channel.onbufferedamountlow = () => {
        channel.onbufferedamountlow = null
        after(CLOSE_GRACE_MS)
      }
    },
  }
}

/**
 * How long a link closed by this side waits for the other side to close the channel before closing the
 * peer connection.
 */
export const CLOSE_GRACE_MS = 2000

/** The longest a link closed by this side keeps its peer connection, however slowly the channel drains. */
export const MAX_CLOSE_WAIT_MS = 10_000

/** A reason cut to `MAX_REASON_CHARS`, never through a surrogate pair. */
function clip(reason: string): string {
  if (reason.length <= MAX_REASON_CHARS) return reason
  const end = isHighSurrogate(reason.charCodeAt(MAX_REASON_CHARS - 1)) ? MAX_REASON_CHARS - 1 : MAX_REASON_CHARS
  return reason.slice(0, end)
}

/** The code and reason of a closing message; a code that is not a close code reads as 1005 (none given). */
function closingOf(message: string): [number, string] {
  const space = message.indexOf(" ")
  const code = Number(message.slice(1, space === -1 ? undefined : space))
  const reason = space === -1 ? "" : clip(message.slice(space + 1))
  return [Number.isInteger(code) && code >= 1000 && code <= 4999 ? code : 1005, reason]
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

/**
 * The largest frame a channel link puts back together by default (characters). The server's links take
 * its WebSocket cap instead: twice `maxMessageBytes`, at least 1 MiB + 64 KiB.
 */
export const MAX_FRAME_CHARS = 8 * 1024 * 1024

export { CLOSING as CLOSING_MESSAGE, LAST as LAST_PIECE, MORE as MORE_PIECES }
