/**
 * Every error Switchyard raises carries a stable string `code`. The table below is the single source of
 * truth: its layer picks the error class, its close code is what a WebSocket closes with when the error
 * ends a connection, and its `http` status is what a server answers when it refuses a plain HTTP request
 * or an upgrade for it. Codes of the `http` layer are only ever such answers: they come before any
 * session, so they are never a `SwitchyardError` (their type is `HttpRefusalCode`, not `ErrorCode`).
 * `docs/errors.md` documents each code.
 */
export const errorCodes = {
  // protocol: the bytes on the wire are wrong
  INVALID_FRAME: { layer: "protocol", close: 4000, http: 400 },
  FRAME_TOO_DEEP: { layer: "protocol", close: 4000 },
  MESSAGE_TOO_LARGE: { layer: "protocol", close: 1009, http: 413 },
  UNSUPPORTED_VERSION: { layer: "protocol", close: 4001 },
  HANDSHAKE_REQUIRED: { layer: "protocol", close: 4002 },
  SEQUENCE_GAP: { layer: "protocol", close: 4003 },
  // contract: the frame is well formed but breaks the contract or fails in a handler
  UNKNOWN_CHANNEL: { layer: "contract", close: 4100 },
  INVALID_INPUT: { layer: "contract", close: 4100 },
  INVALID_OUTPUT: { layer: "contract", close: 4100 },
  FAILURE: { layer: "contract", close: 4100 },
  INTERNAL_ERROR: { layer: "contract", close: 1011 },
  CANCELLED: { layer: "contract", close: 4100 },
  DUPLICATE_ID: { layer: "contract", close: 4100 },
  FORBIDDEN: { layer: "contract", close: 4100 },
  LIMIT_EXCEEDED: { layer: "contract", close: 4100 },
  // peers: a client↔client connection was refused, or a frame about one (docs/peers.md); no connection is
  // ever closed for one of these (PEER_CLOSED has a close code of its own, by its session layer, unused)
  PEER_FORBIDDEN: { layer: "contract", close: 4100 },
  PEER_NOT_FOUND: { layer: "contract", close: 4100 },
  PEER_REJECTED: { layer: "contract", close: 4100 },
  PEER_SIGNAL_REFUSED: { layer: "contract", close: 4100 },
  PEER_CLOSED: { layer: "session", close: 4207 },
  // session and transport: the connection or the session failed
  SESSION_LOST: { layer: "session", close: 4200 },
  REPLAY_OVERFLOW: { layer: "session", close: 4201 },
  QUEUE_FULL: { layer: "session", close: 4202 },
  HEARTBEAT_TIMEOUT: { layer: "session", close: 4203 },
  CONNECTION_REPLACED: { layer: "session", close: 4204 },
  SLOW_CONSUMER: { layer: "session", close: 4205 },
  CONNECTION_LOST: { layer: "session", close: 1006 },
  ORIGIN_FORBIDDEN: { layer: "session", close: 1008, http: 403 },
  CLIENT_CLOSED: { layer: "session", close: 1000 },
  SERVER_CLOSED: { layer: "session", close: 1001, http: 503 },
  // A renewed subscription could not replay what was published while its session was lost (never a close).
  TOPIC_GAP: { layer: "session", close: 4206 },
  // http: a plain HTTP request or an upgrade refused before any session exists (docs/errors.md#http-refusals)
  UNAUTHORIZED: { layer: "http", http: 401 },
  NOT_FOUND: { layer: "http", http: 404 },
  METHOD_NOT_ALLOWED: { layer: "http", http: 405 },
  LINK_GONE: { layer: "http", http: 410 },
  UNKNOWN_TRANSPORT: { layer: "http", http: 400 },
  UPGRADE_REQUIRED: { layer: "http", http: 426 },
  TOO_MANY_CONNECTIONS: { layer: "http", http: 429 },
} as const satisfies Record<string, ErrorEntry>

/** One row of `errorCodes`. */
type ErrorEntry =
  | { readonly layer: "protocol" | "contract" | "session"; readonly close: number; readonly http?: number }
  | { readonly layer: "http"; readonly http: number }

type Table = typeof errorCodes

/** A stable code of a `SwitchyardError` (every layer but `http`); see `docs/errors.md`. */
export type ErrorCode = { [K in keyof Table]: Table[K]["layer"] extends "http" ? never : K }[keyof Table]

/** A code a server answers a refused HTTP request or upgrade with, and never a `SwitchyardError`. */
export type HttpRefusalCode = Exclude<keyof Table, ErrorCode>

/**
 * Every code that may stand in the `{"code", "message"}` body of an HTTP error answer: the refusals, and
 * the `SwitchyardError` codes that have an HTTP status (`INVALID_FRAME`, `MESSAGE_TOO_LARGE`,
 * `ORIGIN_FORBIDDEN`, `SERVER_CLOSED`).
 */
export type HttpErrorCode = { [K in keyof Table]: Table[K] extends { readonly http: number } ? K : never }[keyof Table]

const closeToCode = new Map<number, ErrorCode>([
  [1000, "CLIENT_CLOSED"],
  [1001, "SERVER_CLOSED"],
  [1008, "ORIGIN_FORBIDDEN"],
  [1009, "MESSAGE_TOO_LARGE"],
  [4000, "INVALID_FRAME"],
  [4001, "UNSUPPORTED_VERSION"],
  [4002, "HANDSHAKE_REQUIRED"],
  [4003, "SEQUENCE_GAP"],
  [4200, "SESSION_LOST"],
  [4201, "REPLAY_OVERFLOW"],
  [4202, "QUEUE_FULL"],
  [4203, "HEARTBEAT_TIMEOUT"],
  [4204, "CONNECTION_REPLACED"],
  [4205, "SLOW_CONSUMER"],
])

export function isErrorCode(value: unknown): value is ErrorCode {
  return (
    typeof value === "string" && Object.hasOwn(errorCodes, value) && errorCodes[value as keyof Table].layer !== "http"
  )
}

/** Whether `value` is a code of the `http` layer: a refusal that comes before any session. */
export function isHttpRefusalCode(value: unknown): value is HttpRefusalCode {
  return (
    typeof value === "string" && Object.hasOwn(errorCodes, value) && errorCodes[value as keyof Table].layer === "http"
  )
}

/**
 * The HTTP status a server answers with when it refuses a request or an upgrade for `code`.
 *
 * @example
 * answer(response, httpStatusOf("LINK_GONE"), { code: "LINK_GONE", message: "this link is closed" }) // 410
 */
export function httpStatusOf(code: HttpErrorCode): number {
  return errorCodes[code].http
}

/** The WebSocket close code for an error code. */
export function closeCodeOf(code: ErrorCode): number {
  return errorCodes[code].close
}

/** The error code a WebSocket close code stands for (`CONNECTION_LOST` for codes it does not know). */
export function codeOfClose(close: number): ErrorCode {
  return closeToCode.get(close) ?? "CONNECTION_LOST"
}

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
  switch (errorCodes[code].layer) {
    case "protocol":
      return new ProtocolError(code, message, options) as SwitchyardError<E>
    case "contract":
      return new ContractError<E>(code, message, options)
    case "session":
      return new SessionError(code, message, options) as SwitchyardError<E>
  }
}

/** True when `error` is a channel's declared failure; narrows `data` to the declared type. */
export function isFailure<E = unknown>(error: unknown): error is ContractError<E> & { readonly code: "FAILURE" } {
  return error instanceof SwitchyardError && error.code === "FAILURE"
}
