import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { closeCodeOf, corkPerTick, frameCap, type Link, latestPerTick } from "@switchyard/core"
import { type WebSocket, WebSocketServer } from "ws"
import { CLOSE_WAIT_MS, refuseUpgrade } from "../httpAnswers.ts"
import type { RunningTransport, ServerTransport, TransportHost } from "../transport.ts"
import { watchUnfinishedMessages } from "./unfinishedMessages.ts"

/** WebSocket on `ws`: takes the HTTP upgrades on the server's path. */
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
 */
class WebSocketTransport implements RunningTransport {
  private readonly wss: WebSocketServer
  private readonly sockets = new Set<WebSocket>()
  private closed = false

  constructor(private readonly host: TransportHost) {
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
    })
  }

  /** An HTTP upgrade on the server's path: every such upgrade is a WebSocket's. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    socket.on("error", () => socket.destroy())
    void this.host.admit(request).then((admission) => {
      if (!admission.ok) return refuseUpgrade(socket, admission.code, admission.message)
      if (socket.destroyed || this.closed) {
        socket.destroy()
        return admission.release()
      }
      // `ws` may refuse the upgrade itself (400, 405) without calling back: the count is released when
      // the socket closes, whatever happened (release is idempotent).
      socket.once("close", admission.release)
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        this.sockets.add(ws)
        this.open(ws, admission.address, admission.auth, () => {
          this.sockets.delete(ws)
          admission.release()
        })
      })
    })
    return true
  }

  private open(ws: WebSocket, address: string | undefined, auth: unknown, release: () => void): void {
    const raw = (ws as unknown as { _socket: import("node:net").Socket })._socket
    const cork = corkPerTick(
      () => raw,
      (flush) => process.nextTick(flush),
      () => {
        if (ws.bufferedAmount <= this.host.limits.maxBufferedBytes) return
        ws.close(closeCodeOf("SLOW_CONSUMER"), "SLOW_CONSUMER")
        // A consumer too slow to take the close frame is cut.
        setTimeout(() => ws.terminate(), 1000).unref()
      },
    )
    const send = (frame: string) => {
      if (ws.readyState !== 1) return
      cork()
      ws.send(frame)
    }
    // Unreliable frames wait, one per slot, while the socket holds more than their bound, and go when it
    // drains; they never add to what could make a slow consumer.
    const latest = latestPerTick({
      write: send,
      congested: () => ws.bufferedAmount > this.host.limits.maxUnreliableBufferedBytes,
      defer: (flush) => process.nextTick(flush),
    })
    raw.on("drain", () => latest.flush())
    const link: Link = {
      send,
      sendLatest(slot, frame) {
        if (ws.readyState === 1) latest.send(slot, frame)
      },
      close(code, reason) {
        // 1005, 1006 and 1015 (CONNECTION_LOST) say that no code came and may not be sent (ws throws): such a
        // close goes without one, which the client reads as CONNECTION_LOST as well.
        if (ws.readyState === 0 || ws.readyState === 1) {
          if (sendable(code)) ws.close(code, reason)
          else ws.close()
        }
        setTimeout(() => ws.terminate(), 1000).unref()
      },
    }
    // Unfinished messages hold at most their share of maxIncompleteBytes*, for at most readTimeoutMs.
    const unfinished = watchUnfinishedMessages(
      raw,
      address,
      this.host.incomplete,
      this.host.limits.readTimeoutMs,
      (code) => {
        if (ws.readyState !== 1) return ws.terminate()
        ws.close(closeCodeOf(code), code)
        // The close frame goes, then the end of our side; the client's answer is not read (what it still
        // sends is dropped). Cut after the closing wait if the client does not close its side.
        raw.end()
        setTimeout(() => ws.terminate(), CLOSE_WAIT_MS).unref()
      },
    )
    const events = this.host.accept(link, { transport: "websocket", remoteAddress: address, auth })
    // A frame over maxPayload or bad UTF-8: ws has sent its close frame (1009, 1007) and ended our side,
    // and drops what still comes. Cutting at once would often lose the close frame (the client's writes
    // reset it): the client gets the closing wait to read it and close.
    ws.on("error", () => setTimeout(() => ws.terminate(), CLOSE_WAIT_MS).unref())
    ws.on("message", (data, isBinary) => events.frame(isBinary ? data : data.toString()))
    ws.once("close", (code, reason) => {
      latest.clear()
      unfinished.release()
      release()
      events.close(code, reason.toString())
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
      (ws) =>
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
  }
}

/** Whether a close frame may carry `code` (RFC 6455 §7.4): 1000–1014 but 1004–1006, and 3000–4999. */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) || (code >= 3000 && code <= 4999)
}
