import {
  exceedsBytes,
  exceedsDepth,
  type PayloadCodec,
  type SessionLimits,
  type SwitchyardError,
  switchyardError,
} from "@switchyard/core"

/** What calls, streams and subscriptions need of the client runtime to put frames on the session. */
export interface Wire {
  /** The client is closed: nothing more is sent. */
  readonly closed: boolean
  /** Numbers and queues a data frame: its sequence number, or 0 when it was not queued (closed, or full). */
  send(type: number, frameBody: string, force?: boolean): number
  /** The error of a frame the server would refuse (too large, too deep), before it is queued. */
  oversize(frameBody: string, payload: string): SwitchyardError | undefined
  /** The next request id of this client. */
  nextId(): number
  /** An `error` event of the client. */
  error(error: SwitchyardError): void
}

/** A request waiting for its RESULT or ERROR: a call, a publish, or a subscription's SUBSCRIBE. */
export interface Pending {
  readonly id: number
  readonly kind: "rpc" | "subscribe" | "publish"
  /** Sequence number of its frame in the current session: above `written`, it never left. */
  seq: number
  readonly frameType: number
  readonly frameBody: string
  readonly output: PayloadCodec | undefined
  readonly error: PayloadCodec | undefined
  resolve(value: unknown): void
  reject(error: SwitchyardError): void
  /** For a STREAM frame waiting to be sent again: told its new sequence number once it is. */
  readonly resent?: (seq: number) => void
}

/**
 * Refuses, before it is queued, a frame the server would refuse: queued, it would be replayed after
 * every reconnect and never settle.
 */
export function oversize(limits: SessionLimits, frameBody: string, payload: string): SwitchyardError | undefined {
  const { maxMessageBytes, maxDepth } = limits
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

export function closedError(): SwitchyardError {
  return switchyardError("CLIENT_CLOSED", "the client is closed")
}

export function queueFull(): SwitchyardError {
  return switchyardError("QUEUE_FULL", "too many frames waiting for the server; try again later")
}
