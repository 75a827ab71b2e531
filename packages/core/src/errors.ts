/**
 * Every error Switchyard raises carries a stable string `code`. The tables below are the single source of
 * truth, one per layer: the layer picks the error class, and each code's number is the close code a
 * WebSocket closes with when the error ends a connection. `httpStatus` is what a server answers when it
 * refuses a plain HTTP request or an upgrade for a code. Codes that are only ever such answers (the `http`
 * layer) come before any session, so they are never a `SwitchyardError` (their type is `HttpRefusalCode`,
 * not `ErrorCode`). `errorCodes` joins it all, one row per code. A client reads only the three layer
 * tables, which is why they are apart (docs/performance.md#bundle-size). `docs/errors.md` documents each code.
 */

/** protocol: the bytes on the wire are wrong */
const protocol = {
  INVALID_FRAME: 4000,
  FRAME_TOO_DEEP: 4000,
  MESSAGE_TOO_LARGE: 1009,
  UNSUPPORTED_VERSION: 4001,
  HANDSHAKE_REQUIRED: 4002,
  SEQUENCE_GAP: 4003,
} as const

/** contract: the frame is well formed but breaks the contract or fails in a handler */
const contract = {
  UNKNOWN_CHANNEL: 4100,
  INVALID_INPUT: 4100,
  INVALID_OUTPUT: 4100,
  FAILURE: 4100,
  INTERNAL_ERROR: 1011,
  CANCELLED: 4100,
  DUPLICATE_ID: 4100,
  FORBIDDEN: 4100,
  LIMIT_EXCEEDED: 4100,
  // peers: a client↔client connection was refused, or a frame about one (docs/peers.md); no connection is
  // ever closed for one of these (PEER_CLOSED has a close code of its own, by its session layer, unused)
  PEER_FORBIDDEN: 4100,
  PEER_NOT_FOUND: 4100,
  PEER_REJECTED: 4100,
  PEER_SIGNAL_REFUSED: 4100,
} as const

/** session and transport: the connection or the session failed */
const session = {
  PEER_CLOSED: 4207,
  SESSION_LOST: 4200,
  REPLAY_OVERFLOW: 4201,
  QUEUE_FULL: 4202,
  HEARTBEAT_TIMEOUT: 4203,
  CONNECTION_REPLACED: 4204,
  SLOW_CONSUMER: 4205,
  CONNECTION_LOST: 1006,
  ORIGIN_FORBIDDEN: 1008,
  CLIENT_CLOSED: 1000,
  SERVER_CLOSED: 1001,
  // A renewed subscription could not replay what was published while its session was lost (never a close).
  TOPIC_GAP: 4206,
  // The server's broker (docs/scaling.md) could not take a publish or a subscription in time (never a close).
  BROKER_UNAVAILABLE: 4208,
  // A new session was refused: its address or identity holds too many (docs/limits.md#sessions).
  TOO_MANY_SESSIONS: 4209,
  // Too many new sessions from one address, or frames on one connection, in too short a time.
  RATE_LIMITED: 4210,
  // The server's `authenticate` refused the client's credentials (its connection was answered 401), or the
  // client's `auth` option failed to give any (docs/sessions.md#credentials).
  AUTH_REFUSED: 4211,
  // The server holds as many bytes of unfinished bodies and messages as it allows, from the sender's address
  // or in all (docs/limits.md#bodies-and-messages-being-read): 1013 is "try again later".
  SERVER_BUSY: 1013,
  // A body or a message was not finished within readTimeoutMs (docs/limits.md#bodies-and-messages-being-read).
  READ_TIMEOUT: 4212,
} as const

/**
 * The HTTP status of every code a server may answer a refused request or upgrade with: the refusals that
 * come before any session (docs/errors.md#http-refusals), then the codes of a `SwitchyardError` that may
 * refuse a request or a link's opening POST.
 */
const httpStatus = {
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  LINK_GONE: 410,
  UNKNOWN_TRANSPORT: 400,
  UPGRADE_REQUIRED: 426,
  TOO_MANY_CONNECTIONS: 429,
  INVALID_FRAME: 400,
  MESSAGE_TOO_LARGE: 413,
  ORIGIN_FORBIDDEN: 403,
  SERVER_CLOSED: 503,
  // A HELLO refused on a long-polling, polling or SSE link's opening POST (docs/limits.md#sessions).
  LIMIT_EXCEEDED: 503,
  TOO_MANY_SESSIONS: 429,
  RATE_LIMITED: 429,
  // A second upstream POST on a link while the first one's body is being read.
  LINK_BUSY: 409,
  SERVER_BUSY: 503,
  READ_TIMEOUT: 408,
} as const

type Layers = {
  readonly protocol: typeof protocol
  readonly contract: typeof contract
  readonly session: typeof session
}
type Http = typeof httpStatus

/** A stable code of a `SwitchyardError` (every layer but `http`); see `docs/errors.md`. */
export type ErrorCode = { [L in keyof Layers]: keyof Layers[L] }[keyof Layers]

/** A code a server answers a refused HTTP request or upgrade with, and never a `SwitchyardError`. */
export type HttpRefusalCode = Exclude<keyof Http, ErrorCode>

/**
 * Every code that may stand in the `{"code", "message"}` body of an HTTP error answer: the refusals, and
 * the `SwitchyardError` codes that have an HTTP status (`INVALID_FRAME`, `MESSAGE_TOO_LARGE`,
 * `ORIGIN_FORBIDDEN`, `SERVER_CLOSED`, `SERVER_BUSY`, `READ_TIMEOUT`, and the refusals of a HELLO:
 * `LIMIT_EXCEEDED`, `TOO_MANY_SESSIONS`, `RATE_LIMITED`).
 */
export type HttpErrorCode = keyof Http

/** One row of `errorCodes`: the layer, the close code (not for `http`), and the HTTP status when there is one. */
export type ErrorEntry<K extends string = string> = K extends HttpRefusalCode
  ? { readonly layer: "http"; readonly http: Http[K] }
  : {
      [L in keyof Layers]: K extends keyof Layers[L]
        ? { readonly layer: L; readonly close: Layers[L][K] } & (K extends keyof Http
            ? { readonly http: Http[K] }
            : { readonly http?: undefined })
        : never
    }[keyof Layers]

/** Every code with its layer, close code and HTTP status, as one table. */
export const errorCodes = /* @__PURE__ */ joinTables()

function joinTables(): { readonly [K in ErrorCode | HttpRefusalCode]: ErrorEntry<K> } {
  const rows: Record<string, { layer: string; close?: number; http?: number }> = {}
  const layers: Layers = { protocol, contract, session }
  for (const [layer, codes] of Object.entries(layers)) {
    for (const [code, close] of Object.entries(codes)) rows[code] = { layer, close }
  }
  for (const [code, http] of Object.entries(httpStatus)) {
    const row = rows[code]
    if (row) row.http = http
    else rows[code] = { layer: "http", http }
  }
  return rows as unknown as ReturnType<typeof joinTables>
}

/** The layer table that holds `code`, if any. */
function layerOf(code: unknown): keyof Layers | undefined {
  if (typeof code !== "string") return undefined
  return Object.hasOwn(protocol, code)
    ? "protocol"
    : Object.hasOwn(contract, code)
      ? "contract"
      : Object.hasOwn(session, code)
        ? "session"
        : undefined
}

/** Whether `value` is the code of a protocol, contract or session error (`ErrorCode`). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return layerOf(value) !== undefined
}

/** Whether `value` is a code of the `http` layer: a refusal that comes before any session. */
export function isHttpRefusalCode(value: unknown): value is HttpRefusalCode {
  return typeof value === "string" && Object.hasOwn(httpStatus, value) && layerOf(value) === undefined
}

/**
 * The HTTP status a server answers with when it refuses a request or an upgrade for `code`.
 *
 * @example
 * ```ts
 * import type { ServerResponse } from "node:http"
 * import { httpStatusOf } from "@switchyard/core"
 *
 * function linkGone(response: ServerResponse): void {
 *   response.writeHead(httpStatusOf("LINK_GONE")).end(JSON.stringify({ code: "LINK_GONE" })) // 410
 * }
 * ```
 */
export function httpStatusOf(code: HttpErrorCode): number {
  return httpStatus[code]
}

/** The WebSocket close code for an error code. */
export function closeCodeOf(code: ErrorCode): number {
  const c = code as never
  return protocol[c] ?? contract[c] ?? session[c]
}

/** The error code a WebSocket close code stands for (`CONNECTION_LOST` for codes it does not know). */
export function codeOfClose(close: number): ErrorCode {
  closeToCode ??= new Map(
    (
      [
        "CLIENT_CLOSED",
        "SERVER_CLOSED",
        "ORIGIN_FORBIDDEN",
        "MESSAGE_TOO_LARGE",
        "INVALID_FRAME",
        "UNSUPPORTED_VERSION",
        "HANDSHAKE_REQUIRED",
        "SEQUENCE_GAP",
        "SESSION_LOST",
        "REPLAY_OVERFLOW",
        "QUEUE_FULL",
        "HEARTBEAT_TIMEOUT",
        "CONNECTION_REPLACED",
        "SLOW_CONSUMER",
        "TOO_MANY_SESSIONS",
        "RATE_LIMITED",
        "AUTH_REFUSED",
      ] as const
    ).map((code) => [closeCodeOf(code), code]),
  )
  return closeToCode.get(close) ?? "CONNECTION_LOST"
}

/**
 * The codes a close code stands for, when it names one code (4100 is every contract error, and a few
 * codes never close a connection), built on first use.
 */
let closeToCode: Map<number, ErrorCode> | undefined

/**
 * The base of every Switchyard error. `code` is stable; `data` holds a channel's declared error when
 * `code` is `"FAILURE"`.
 *
 * @example
 * try { await client.rpc.divide({ a: 1, b: 0 }) }
 * catch (e) { if (e instanceof SwitchyardError && e.code === "FAILURE") console.log(e.data) }
 */
export class SwitchyardError<E = unknown> extends Error {
  readonly _tag: "ProtocolError" | "ContractError" | "SessionError" = "SessionError"
  readonly code: ErrorCode
  readonly data: E

  constructor(code: ErrorCode, message: string, options?: { readonly data?: E; readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.data = options?.data as E
  }

  override get name(): string {
    return this._tag
  }
}

/** The frame on the wire was malformed, too large, too deep or out of sequence. */
export class ProtocolError extends SwitchyardError {
  override readonly _tag = "ProtocolError" as const
}

/** A call broke the contract (unknown channel, invalid payload) or its handler failed. */
export class ContractError<E = unknown> extends SwitchyardError<E> {
  override readonly _tag = "ContractError" as const
}

/** The connection or the session failed (lost, timed out, overflowed, closed). */
export class SessionError extends SwitchyardError {
  override readonly _tag = "SessionError" as const
}

/** Builds the error of the right class for a code. */
export function switchyardError<E = unknown>(
  code: ErrorCode,
  message: string,
  options?: { readonly data?: E; readonly cause?: unknown },
): SwitchyardError<E> {
  switch (layerOf(code)) {
    case "protocol":
      return new ProtocolError(code, message, options) as SwitchyardError<E>
    case "contract":
      return new ContractError<E>(code, message, options)
    default:
      return new SessionError(code, message, options) as SwitchyardError<E>
  }
}

/** True when `error` is a channel's declared failure; narrows `data` to the declared type. */
export function isFailure<E = unknown>(error: unknown): error is ContractError<E> & { readonly code: "FAILURE" } {
  return error instanceof SwitchyardError && error.code === "FAILURE"
}
