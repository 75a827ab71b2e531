import { defaultSessionOptions, httpBodyCap, preWelcomeLimits, type SessionOptions } from "@switchyard/core"

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
  /** Open connections per client address (more are refused with 429). */
  readonly maxConnectionsPerIp: number
  /**
   * Sessions held at once, connected or waiting for resume, per client address (a HELLO past it gets BYE
   * `TOO_MANY_SESSIONS`; an HTTP link's opening POST 429). Far below `maxSessions`, so that one address
   * cannot fill the server's table.
   */
  readonly maxSessionsPerIp: number
  /** Sessions held at once per identity, as the server's `identify(auth)` names it (`TOO_MANY_SESSIONS`). */
  readonly maxSessionsPerIdentity: number
  /** New sessions a second per client address, on average (a token bucket; `RATE_LIMITED`). */
  readonly newSessionsPerSecondPerIp: number
  /** New sessions one client address may start at once before `newSessionsPerSecondPerIp` applies. */
  readonly newSessionBurstPerIp: number
  /**
   * How long the answer to a HELLO refused a new session (`LIMIT_EXCEEDED`, `TOO_MANY_SESSIONS`,
   * `RATE_LIMITED`) is held (ms): a client that loops on refused HELLOs gets one answer per connection and
   * delay. The connection counts toward `maxConnectionsPerIp` meanwhile.
   */
  readonly refusalDelayMs: number
  /**
   * IPv6 addresses are counted per prefix of this many bits by every per-address bound (a host is
   * usually given a whole /64). 128 counts each address on its own.
   */
  readonly ipv6PrefixBits: number
  /**
   * Client frames a second one connection may send, on average (a token bucket). A request past it is
   * answered `ERROR RATE_LIMITED`; a connection that goes on until it is another burst over is closed.
   */
  readonly connectionFramesPerSecond: number
  /** Client frames one connection may send at once before `connectionFramesPerSecond` applies. */
  readonly connectionFrameBurst: number
  /** Characters of frame text (bytes of a binary frame) a second one connection may send, on average. */
  readonly connectionBytesPerSecond: number
  /** Characters one connection may send at once before `connectionBytesPerSecond` applies. */
  readonly connectionByteBurst: number
  /**
   * Bytes of HTTP request bodies being read and of unfinished WebSocket messages held at once for one
   * client address. A body or message that would pass it is refused (`SERVER_BUSY`: HTTP 503, close 1013).
   */
  readonly maxIncompleteBytesPerIp: number
  /** The same, for every address together (`SERVER_BUSY`). */
  readonly maxIncompleteBytes: number
  /**
   * Time to receive one HTTP request body (from the start of reading it to its end) or one WebSocket
   * message (from its first byte to its last) (ms); past it the request is answered 408, the WebSocket
   * closed with 4212 (`READ_TIMEOUT`).
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
   * A message of an unreliable peer channel is relayed only while the receiver's session has at most this
   * many frames it has not acknowledged (and a live connection); otherwise it is dropped, silently
   * (docs/peers.md#unreliable-peer-channels). A non-negative integer.
   */
  readonly maxUnreliablePeerPending: number
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

/** The server's limits when `createServer` is given none (docs/limits.md lists each). */
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
  // Every connection an address may have, and as many sessions again waiting to be resumed.
  maxSessionsPerIp: 2048,
  // A user's tabs and devices, with the sessions their reloads leave waiting for resumeWindowMs.
  maxSessionsPerIdentity: 256,
  // 1,000 clients behind one NAT all needing a new session (a restart) are in within 16 s.
  newSessionsPerSecondPerIp: 50,
  newSessionBurstPerIp: 200,
  // A flood that waits for its answers is slowed to one HELLO per connection a second; a client the
  // bounds refuse retries with backoff anyway.
  refusalDelayMs: 1000,
  ipv6PrefixBits: 64,
  // Off by default, as in Socket.IO and SignalR: one client's tight loop of sequential calls sends ~100,000
  // frames a second on loopback (113,000 in 1-2 s measured), and any default low enough to matter refused
  // honest apps and benchmarks. A server on the public internet sets them (docs/limits.md suggests values).
  connectionFramesPerSecond: Number.POSITIVE_INFINITY,
  connectionFrameBurst: Number.POSITIVE_INFINITY,
  connectionBytesPerSecond: Number.POSITIVE_INFINITY,
  connectionByteBurst: Number.POSITIVE_INFINITY,
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
  // A few round trips of a 60 Hz game's traffic: a reader that falls further behind gets no backlog.
  maxUnreliablePeerPending: 256,
  takeOverTimeoutMs: 3_000,
  handOverGraceMs: 10_000,
  // Under Redis's default pub/sub output buffer soft limit (8 MB), so that one snapshot never cuts a node off.
  maxSnapshotChars: 6 * 1024 * 1024,
}

/**
 * Throws a `TypeError` for limits that contradict each other (docs/limits.md): a bound on unread bytes
 * below the largest body or WebSocket message a client may send (`maxMessageBytes`, and at least the
 * 1 MiB a client assumes before WELCOME, plus 64 KiB of framing) would refuse that message every time,
 * and its client would send it again after every resume. Also for a `maxUnreliablePeerPending` that is
 * not a non-negative integer (a NaN would drop every unreliable peer message without a word).
 */
export function checkLimits(limits: ServerLimits): void {
  const pending = limits.maxUnreliablePeerPending
  if (!(Number.isInteger(pending) && pending >= 0)) {
    throw new TypeError(`switchyard: limits.maxUnreliablePeerPending (${pending}) must be a non-negative integer`)
  }
  const largest = httpBodyCap(limits.maxMessageBytes)
  const low = (["maxIncompleteBytesPerIp", "maxIncompleteBytes"] as const).filter((name) => !(limits[name] >= largest))
  if (low.length === 0) return
  throw new TypeError(
    `switchyard: ${low.map((name) => `limits.${name} (${limits[name]})`).join(" and ")} must be at least ${largest} ` +
      "bytes, the largest body or WebSocket message a client may send (maxMessageBytes, at least 1 MiB before " +
      "WELCOME, plus 64 KiB): a smaller bound could never receive it",
  )
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
