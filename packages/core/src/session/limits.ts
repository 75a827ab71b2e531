/**
 * What a session is allowed to carry, and the caps derived from it. A client learns the server's limits
 * from WELCOME; until then it assumes `preWelcomeLimits` (the server defaults). The caps below are what a
 * transport reads before it refuses a frame or a body outright, on both sides, so that every transport
 * derives them the same way (docs/limits.md).
 */

/** What the server tells a client about the session's limits in its WELCOME frame. */
export interface SessionLimits {
  /** Largest frame the server accepts, in bytes. */
  readonly maxMessageBytes: number
  /** The server sends a PING at this interval (ms). */
  readonly heartbeatIntervalMs: number
  /** A side that hears nothing for interval + timeout considers the connection dead (ms). */
  readonly heartbeatTimeoutMs: number
  /** How long the server keeps a disconnected session for resume (ms). */
  readonly resumeWindowMs: number
  /** Deepest nesting of arrays and objects the server accepts in one frame, the frame array included. */
  readonly maxDepth: number
}

/** The `maxMessageBytes` a client assumes before its first WELCOME tells it: the server default, 1 MiB. */
export const PRE_WELCOME_MAX_MESSAGE_BYTES = 1024 * 1024

/** Every limit a client assumes before its first WELCOME: the server defaults. */
export const preWelcomeLimits: SessionLimits = {
  maxMessageBytes: PRE_WELCOME_MAX_MESSAGE_BYTES,
  maxDepth: 64,
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 10_000,
  resumeWindowMs: 60_000,
}

/** Room above a limit for the frame's own head, a batch's separators and HTTP framing (64 KiB). */
export const CAP_SLACK_BYTES = 64 * 1024

/**
 * The largest single frame a message-based link (WebSocket, a WebRTC data channel) reads, for a server
 * whose `maxMessageBytes` is given. Frames up to twice the limit, and at least up to what a client
 * assumes before WELCOME plus slack, are read and answered with MESSAGE_TOO_LARGE for their call, so
 * that the session goes on; larger ones close the link (1009) before they are buffered.
 *
 * @example
 * ```ts
 * import { frameCap } from "@switchyard/core"
 * import { WebSocketServer } from "ws"
 *
 * const maxMessageBytes = 1024 * 1024
 * const wss = new WebSocketServer({ noServer: true, maxPayload: frameCap(maxMessageBytes) })
 * ```
 */
export function frameCap(maxMessageBytes: number): number {
  return Math.max(2 * maxMessageBytes, PRE_WELCOME_MAX_MESSAGE_BYTES + CAP_SLACK_BYTES)
}

/**
 * The largest body of one upstream HTTP request (SSE, long polling, polling) a server reads, for a server
 * whose `maxMessageBytes` is given: up to what a client batches before it knows the server's limits, plus
 * slack. A single frame over `maxMessageBytes` inside it is answered for its id; the body is never
 * refused for it. Past this cap the request is answered 413 MESSAGE_TOO_LARGE.
 *
 * @example
 * ```ts
 * import type { IncomingMessage, ServerResponse } from "node:http"
 * import { httpBodyCap } from "@switchyard/core"
 *
 * function tooLarge(request: IncomingMessage, response: ServerResponse, maxMessageBytes: number): boolean {
 *   if (Number(request.headers["content-length"] ?? 0) <= httpBodyCap(maxMessageBytes)) return false
 *   response.writeHead(413).end("MESSAGE_TOO_LARGE")
 *   return true
 * }
 * ```
 */
export function httpBodyCap(maxMessageBytes: number): number {
  return Math.max(maxMessageBytes, PRE_WELCOME_MAX_MESSAGE_BYTES) + CAP_SLACK_BYTES
}
