import { defaultSessionOptions, preWelcomeLimits, type SessionOptions } from "@switchyard/core"

/** Every bound the server enforces. Each is documented in `docs/limits.md`. */
export interface ServerLimits extends SessionOptions {
  /** Largest incoming frame in bytes; a larger one closes the connection with `MESSAGE_TOO_LARGE`. */
  readonly maxMessageBytes: number
  /** Deepest nesting of arrays/objects in one frame (`FRAME_TOO_DEEP`). */
  readonly maxDepth: number
  /** How long a disconnected session waits to be resumed before it ends (ms). */
  readonly resumeWindowMs: number
  /** The server sends a PING at this interval (ms). */
  readonly heartbeatIntervalMs: number
  /** A connection silent for interval + timeout is closed with `HEARTBEAT_TIMEOUT` (ms). */
  readonly heartbeatTimeoutMs: number
  /** A connection must send HELLO within this time (ms). */
  readonly handshakeTimeoutMs: number
  /** RPCs and streams running at once per session (`LIMIT_EXCEEDED`). */
  readonly maxInFlight: number
  /** Topic subscriptions per session (`LIMIT_EXCEEDED`). */
  readonly maxSubscriptions: number
  /** Sessions held at once, connected or waiting for resume (a HELLO past it gets BYE `LIMIT_EXCEEDED`). */
  readonly maxSessions: number
  /** Open connections per remote IP address (more are refused with 429). */
  readonly maxConnectionsPerIp: number
  /**
   * Bytes of HTTP request bodies being read and of unfinished WebSocket messages held at once for one
   * remote address. A body or message that would pass it is refused (`SERVER_BUSY`: HTTP 503, close 1013).
   */
  readonly maxIncompleteBytesPerIp: number
  /** The same, for every address together (`SERVER_BUSY`). */
  readonly maxIncompleteBytes: number
  /**
   * Time to receive one HTTP request body (from the start of reading it to its end) or one WebSocket
   * message (from its first byte to its last) (ms); past it the request is answered 408, the WebSocket
   * closed with 4211 (`READ_TIMEOUT`).
   */
  readonly readTimeoutMs: number
  /**
   * Bytes queued on one connection's socket before it counts as a slow consumer (`SLOW_CONSUMER`). Kept
   * above what a full replay can take (`maxReplayBytes` UTF-16 units, up to 3 bytes each), so that a
   * resume never trips it by itself.
   */
  readonly maxBufferedBytes: number
  /**
   * Unreliable frames (docs/delivery.md) are written only while a connection's send buffer holds at most
   * this many bytes; above it, the latest frame per stream or topic key waits for the buffer to drain and
   * older ones are dropped. Far below `maxBufferedBytes`, so that unreliable traffic never makes a slow
   * consumer.
   */
  readonly maxUnreliableBufferedBytes: number
  /** Malformed frames tolerated on one connection, each answered with a NOTICE, before it is closed. */
  readonly maxInvalidFrames: number
  /** How long a long-polling GET is held when there is nothing to send (ms). */
  readonly pollTimeoutMs: number
  /**
   * An SSE stream carries a comment line at this interval when idle (ms), shorter than common proxy idle
   * timeouts (often 30–60 s), so that no proxy closes a quiet stream.
   */
  readonly sseKeepAliveMs: number
  /**
   * An SSE stream is ended by the server after this long (ms); the EventSource reconnects on the same
   * link with `Last-Event-ID`. This bounds what a buffering proxy can hold back, and makes a proxy's
   * maximum response time an ordinary reconnect instead of a failure.
   */
  readonly sseMaxStreamMs: number
  /**
   * Publications kept per topic key, so that a client whose session was lost can be replayed what it
   * missed (docs/topics.md). `0` keeps no history: a renewed subscription then always reports
   * `recovered: false`.
   */
  readonly topicHistorySize: number
  /**
   * How long a publication stays in its key's history (ms). A key without subscribers is forgotten, with
   * its history and epoch, once this long has passed since its last publication and its last subscriber
   * left.
   */
  readonly topicHistoryTtlMs: number
  /**
   * Members listed per topic key, on all nodes together (docs/presence.md). A session that subscribes to
   * a full key is subscribed but not listed: it gets the messages, is in no list and causes no join or
   * leave event.
   */
  readonly maxPresencePerKey: number
  /** Peer connections one session may have open or being set up at once (`LIMIT_EXCEEDED`). */
  readonly maxPeerConnections: number
  /** ICE candidates each side may send per peer connection (`PEER_SIGNAL_REFUSED`). */
  readonly maxPeerCandidates: number
  /**
   * With a broker that has `nodes` (docs/scaling.md): how long a HELLO naming a session another node
   * owns waits for it to be handed over (ms); past it the connection is refused and the client retries.
   */
  readonly takeOverTimeoutMs: number
  /**
   * With a broker that has `nodes`: how long `server.close()` lets other nodes take this node's sessions
   * over before it ends the rest with `SERVER_CLOSED` (ms).
   */
  readonly handOverGraceMs: number
  /**
   * With a broker that has `nodes`: the largest session snapshot (JSON characters) a node hands to
   * another; a larger session is ended with `REPLAY_OVERFLOW` rather than sent (docs/limits.md).
   */
  readonly maxSnapshotChars: number
}

export const defaultLimits: ServerLimits = {
  ...defaultSessionOptions,
  // maxMessageBytes (1 MiB), maxDepth (64), resumeWindowMs (60 s), heartbeatIntervalMs (15 s) and
  // heartbeatTimeoutMs (10 s): one source with what a client assumes before a WELCOME tells it.
  ...preWelcomeLimits,
  handshakeTimeoutMs: 10_000,
  maxInFlight: 1024,
  maxSubscriptions: 1024,
  maxSessions: 100_000,
  maxConnectionsPerIp: 1024,
  // Fifteen bodies or messages of the largest size a client sends before WELCOME (1 MiB + 64 KiB) from one
  // address, sixty in all: far above what honest clients hold unfinished at once, and bounded memory.
  maxIncompleteBytesPerIp: 16 * 1024 * 1024,
  maxIncompleteBytes: 64 * 1024 * 1024,
  // 1 MiB at 100 KB/s; the largest batch the bundled client posts (256 Ki characters) at 80 KB/s.
  readTimeoutMs: 10_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxUnreliableBufferedBytes: 64 * 1024,
  maxInvalidFrames: 16,
  pollTimeoutMs: 25_000,
  sseKeepAliveMs: 10_000,
  sseMaxStreamMs: 5 * 60_000,
  topicHistorySize: 100,
  // Twice the resume window: a session lost because its client stayed away longer than the window can
  // still be recovered when the client is back within two minutes.
  topicHistoryTtlMs: 120_000,
  // A list of 1,000 members with ~100 bytes of data each is a ~120 KB RESULT, well within maxMessageBytes.
  maxPresencePerKey: 1000,
  maxPeerConnections: 16,
  // A host gathers a handful per interface and address family; TURN adds a few more.
  maxPeerCandidates: 64,
  takeOverTimeoutMs: 3_000,
  handOverGraceMs: 10_000,
  // Under Redis's default pub/sub output buffer soft limit (8 MB), so that one snapshot never cuts a node off.
  maxSnapshotChars: 6 * 1024 * 1024,
}

/** What `server.listen()` sets on the HTTP server it creates (docs/limits.md#http-server-timeouts). */
export interface ListenOptions {
  /**
   * Time to receive a request's headers (ms): Node's `headersTimeout`. Past it the connection is answered
   * 408 by Node and closed.
   */
  readonly headersTimeoutMs?: number
  /**
   * Time to receive a whole request, headers and body (ms): Node's `requestTimeout`, at least
   * `headersTimeoutMs`. A held long poll or an SSE stream is a response and is not bounded by it.
   */
  readonly requestTimeoutMs?: number
  /** How long an idle keep-alive connection is kept open between requests (ms): Node's `keepAliveTimeout`. */
  readonly keepAliveTimeoutMs?: number
}

/**
 * Defaults of `ListenOptions`, for a realtime server whose requests are small: far below Node's (60 s for
 * headers, 300 s for a request), which let slow senders hold connections for minutes.
 */
export const defaultListenOptions: Required<ListenOptions> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
}

/** How often Node checks `headersTimeoutMs` and `requestTimeoutMs` on a server `listen()` made (ms). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000
