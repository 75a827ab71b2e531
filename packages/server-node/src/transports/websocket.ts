import type { IncomingMessage } from "node:http"
import type { Socket } from "node:net"
import type { Duplex } from "node:stream"
import {
  closeCodeOf,
  frameCap,
  type LatestSender,
  type Link,
  latestPerTick,
  type ServerLinkEvents,
} from "@switchyard/core"
import { type RawData, type Server, WebSocket, WebSocketServer } from "ws"
import { CLOSE_WAIT_MS, refuseUpgrade } from "../httpAnswers.ts"
import type { Admission, RunningTransport, ServerTransport, TransportHost } from "../transport.ts"
import { type UnfinishedMessages, type UnfinishedRefusal, watchUnfinishedMessages } from "./unfinishedMessages.ts"

type Refusal = Extract<Admission, { ok: false }>

/**
 * WebSocket on `ws`: takes the HTTP upgrades on the server's path.
 *
 * @example
 * ```ts
 * import { createServer, websocketServer } from "@switchyard/server-node"
 *
 * // WebSocket only: a client that cannot open one fails rather than falling back.
 * const server = createServer(Chat, handlers, { transports: [websocketServer()] })
 * ```
 */
export function websocketServer(): ServerTransport {
  return {
    id: "websocket",
    offer: { duplex: true, binary: true, ordered: true },
    reach: "request",
    start: (host) => new WebSocketTransport(host),
  }
}

/**
 * The WebSocket transport on `ws`. Limits are set explicitly (ws's default `maxPayload` is 100 MiB);
 * compression is off (CPU and memory cost, and a DoS vector); every socket has an `'error'` listener.
 * Writes are corked per tick so that a burst of frames leaves in one syscall.
 *
 * What an idle connection holds is kept small (docs/performance.md#idle-connections): the socket is a
 * `SessionSocket` that points at its `WebSocketLink`, whose methods are on its prototype, and the
 * listeners are the module's functions below, so a connection allocates no closures; nothing captures
 * the upgrade request or its head buffer; the latest-value sender is made on the first unreliable frame.
 */
class WebSocketTransport implements RunningTransport {
  private readonly wss: Server<typeof SessionSocket>
  /** Completes the upgrades that are refused with a close code (`refuse`). */
  private readonly refusals: Server
  /** Open sockets, for `close()`. */
  readonly sockets = new Set<SessionSocket>()
  private closed = false

  constructor(readonly host: TransportHost) {
    const { limits } = host
    this.wss = new WebSocketServer({
      noServer: true,
      // Frames up to twice the limit, and at least up to what a client assumes before its first WELCOME
      // (1 MiB), are read and answered with MESSAGE_TOO_LARGE for their call, so the session goes on;
      // larger ones close the connection (1009) before they are buffered.
      maxPayload: frameCap(limits.maxMessageBytes),
      perMessageDeflate: false,
      clientTracking: false,
      skipUTF8Validation: false,
      WebSocket: SessionSocket,
    })
    this.refusals = new WebSocketServer({
      noServer: true,
      maxPayload: 125,
      perMessageDeflate: false,
      clientTracking: false,
    })
  }

  /** An HTTP upgrade on the server's path: every such upgrade is a WebSocket's. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    socket.on("error", destroySocket)
    // A refusal by `authenticate` keeps its place in the bound while it is told with a close code (`refuse`).
    void this.host.admit(request, true).then((admission) => this.admitted(admission, request, socket, head))
    return true
  }

  private admitted(admission: Admission, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!admission.ok) return this.refuse(admission, request, socket, head)
    if (socket.destroyed || this.closed) {
      socket.destroy()
      return admission.release()
    }
    // `ws` may refuse the upgrade itself (400, 405) without calling back: the count is released when
    // the socket closes, whatever happened (release is idempotent). 'close' comes once: no `once` wrapper.
    socket.on("close", admission.release)
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      // From here the link releases it, when `ws` reports the close.
      socket.removeListener("close", admission.release)
      this.sockets.add(ws)
      const link = new WebSocketLink(this, ws, admission.release)
      ws.link = link
      // Unfinished messages hold at most their share of maxIncompleteBytes*, for at most readTimeoutMs.
      link.unfinished = watchUnfinishedMessages(
        rawSocket(ws),
        admission.address,
        this.host.incomplete,
        this.host.limits.readTimeoutMs,
        link,
      )
      link.events = this.host.accept(link, {
        transport: "websocket",
        remoteAddress: admission.address,
        auth: admission.auth,
      })
      ws.on("error", terminateSoon)
      ws.on("message", deliverMessage)
      ws.on("close", closeLink)
    })
  }

  /**
   * Refuses an upgrade. A browser's WebSocket never shows the HTTP answer to its upgrade (only a 1006
   * close), so a refusal by `authenticate` completes the upgrade and closes at once with 4211
   * `AUTH_REFUSED` (docs/errors.md#refusals-on-a-websocket). That stays cheap: the refusal keeps the place
   * its upgrade took in `maxConnectionsPerIp` until its socket closes, reads no message (its server takes
   * none over 125 bytes and delivers none), and is cut after `CLOSE_WAIT_MS`; an address at its bound gets
   * the bare 429 before `authenticate` runs, as every other refusal gets its bare HTTP answer.
   */
  private refuse(refusal: Refusal, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { release } = refusal
    if (release === undefined || refusal.code !== "UNAUTHORIZED" || this.closed || socket.destroyed) {
      release?.()
      return refuseUpgrade(socket, refusal.code, refusal.message)
    }
    // Released when the socket closes, whether `ws` completed the upgrade or refused it itself (400, 405).
    socket.on("close", release)
    this.refusals.handleUpgrade(request, socket, head, (ws) => {
      ws.on("error", terminateSoon)
      ws.close(closeCodeOf("AUTH_REFUSED"), "AUTH_REFUSED")
      rawSocket(ws).end()
      setTimeout(() => ws.terminate(), CLOSE_WAIT_MS).unref()
    })
  }

  /**
   * Closes every socket with 1001, waits up to `graceMs` for the close handshakes (so that frames already
   * written, such as the sessions' BYE, reach the clients), then cuts whatever is left.
   */
  async close(graceMs = 1000): Promise<void> {
    this.closed = true
    const open = [...this.sockets]
    const closed = open.map(
      (ws: WebSocket) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve()
          ws.once("close", () => resolve())
          if (ws.readyState === ws.OPEN) ws.close(closeCodeOf("SERVER_CLOSED"), "SERVER_CLOSED")
        }),
    )
    let timer: ReturnType<typeof setTimeout> | undefined
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs)
    })
    await Promise.race([Promise.all(closed), grace])
    clearTimeout(timer)
    for (const ws of open) ws.terminate()
    this.sockets.clear()
    this.wss.close()
    this.refusals.close()
  }
}

/** A `ws` socket that knows its link, so that the listeners below need no closure of their own. */
class SessionSocket extends WebSocket {
  link: WebSocketLink | undefined = undefined
}

/**
 * The link of one WebSocket. `send` corks the socket on the first frame of a tick and uncorks it on the
 * next tick (as core's `corkPerTick`, without its closures), then checks the slow-consumer bound.
 */
class WebSocketLink implements Link {
  events: ServerLinkEvents | undefined
  unfinished: UnfinishedMessages | undefined
  private corked: Socket | undefined
  /** Unreliable frames (docs/delivery.md): made on the first one, as most sessions never send any. */
  private latest: LatestSender | undefined

  constructor(
    private readonly transport: WebSocketTransport,
    private readonly ws: SessionSocket,
    readonly release: () => void,
  ) {}

  send(frame: string): void {
    const { ws } = this
    if (ws.readyState !== 1) return
    if (this.corked === undefined) {
      this.corked = rawSocket(ws)
      this.corked.cork()
      process.nextTick(uncork, this)
    }
    ws.send(frame)
  }

  /** The end of the tick: the corked frames leave; a consumer that lets too much queue up is closed. */
  uncork(): void {
    const held = this.corked
    this.corked = undefined
    held?.uncork()
    const { ws, transport } = this
    if (ws.bufferedAmount <= transport.host.limits.maxBufferedBytes) return
    ws.close(closeCodeOf("SLOW_CONSUMER"), "SLOW_CONSUMER")
    // A consumer too slow to take the close frame is cut.
    setTimeout(() => ws.terminate(), 1000).unref()
  }

  sendLatest(slot: object, frame: string): void {
    if (this.ws.readyState !== 1) return
    this.latest ??= this.latestSender()
    this.latest.send(slot, frame)
  }

  /**
   * Unreliable frames wait, one per slot, while the socket holds more than their bound, and go when it
   * drains; they never add to what could make a slow consumer.
   */
  private latestSender(): LatestSender {
    const { ws } = this
    const { limits } = this.transport.host
    const latest = latestPerTick({
      write: (frame) => this.send(frame),
      congested: () => ws.bufferedAmount > limits.maxUnreliableBufferedBytes,
      defer: (flush) => process.nextTick(flush),
    })
    rawSocket(ws).on("drain", () => latest.flush())
    return latest
  }

  close(code: number, reason: string): void {
    const { ws } = this
    // 1005, 1006 and 1015 (CONNECTION_LOST) say that no code came and may not be sent (ws throws): such a
    // close goes without one, which the client reads as CONNECTION_LOST as well.
    if (ws.readyState === 0 || ws.readyState === 1) {
      if (sendable(code)) ws.close(code, reason)
      else ws.close()
    }
    setTimeout(() => ws.terminate(), 1000).unref()
  }

  /** An unfinished message passed a bound of `maxIncompleteBytes*` (`SERVER_BUSY`) or `readTimeoutMs`. */
  refuseUnfinished(code: UnfinishedRefusal): void {
    const { ws } = this
    if (ws.readyState !== 1) return ws.terminate()
    ws.close(closeCodeOf(code), code)
    // The close frame goes, then the end of our side; the client's answer is not read (what it still
    // sends is dropped). Cut after the closing wait if the client does not close its side.
    rawSocket(ws).end()
    setTimeout(() => ws.terminate(), CLOSE_WAIT_MS).unref()
  }

  /** The socket closed. */
  closed(code: number, reason: Buffer): void {
    this.transport.sockets.delete(this.ws)
    this.latest?.clear()
    this.unfinished?.release()
    this.release()
    this.events?.close(code, reason.toString())
  }
}

function uncork(link: WebSocketLink): void {
  link.uncork()
}

function rawSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket
}

// The listeners every socket shares (EventEmitter calls them with the emitter as `this`).
function destroySocket(this: Duplex): void {
  this.destroy()
}

/**
 * A frame over maxPayload or bad UTF-8: ws has sent its close frame (1009, 1007) and ended our side, and
 * drops what still comes. Cutting at once would often lose the close frame (the client's writes reset
 * it): the client gets the closing wait to read it and close.
 */
function terminateSoon(this: WebSocket): void {
  setTimeout(() => this.terminate(), CLOSE_WAIT_MS).unref()
}

function deliverMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  ;(this as SessionSocket).link?.events?.frame(isBinary ? data : data.toString())
}

function closeLink(this: WebSocket, code: number, reason: Buffer): void {
  ;(this as SessionSocket).link?.closed(code, reason)
}

/** Whether a close frame may carry `code` (RFC 6455 §7.4): 1000–1014 but 1004–1006, and 3000–4999. */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) || (code >= 3000 && code <= 4999)
}
