import type { IncomingMessage, ServerResponse } from "node:http"
import { Socket } from "node:net"
import type { Duplex } from "node:stream"
import { type HttpErrorCode, httpStatusOf } from "@switchyard/core"

/** Answers a request with a small JSON body (errors) or nothing. */
export function answer(response: ServerResponse, status: number, body?: object): void {
  if (response.headersSent) return void response.end()
  const text = body === undefined ? "" : JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  })
  response.end(text)
}

/**
 * Refuses a request with an error code of core's table (`errorCodes`): its HTTP status, and a JSON body
 * `{ code, message }` (docs/errors.md#http-refusals).
 */
export function refuse(response: ServerResponse, code: HttpErrorCode, message: string): void {
  answer(response, httpStatusOf(code), { code, message })
}

/**
 * Answers 410 for a link that is closed or unknown; given the request, as `refuseUnread` (a POST whose
 * body is still coming).
 */
export function refuseGoneLink(response: ServerResponse, request?: IncomingMessage): void {
  const message = "this link is closed or unknown; open a new one"
  if (request) refuseUnread(request, response, "LINK_GONE", message)
  else refuse(response, "LINK_GONE", message)
}

/**
 * How long a connection refused in the middle of a body is kept reading (and dropping) what its client
 * still sends, after the answer has gone, before it is cut (ms). Cutting at once would reset the client's
 * writes, and a client that reads its answer only after sending its body would never see it.
 */
export const CLOSE_WAIT_MS = 1000

/**
 * Refuses a request whose body may not have arrived in full (`refuse`). What still comes is dropped, not
 * kept. A request whose body is all in when it is answered keeps its connection, as any; otherwise the
 * connection is closed once the answer has gone: its sending side first, so that the client reads the
 * answer instead of a reset, then, after `CLOSE_WAIT_MS`, all of it.
 */
export function refuseUnread(
  request: IncomingMessage,
  response: ServerResponse,
  code: HttpErrorCode,
  message: string,
): void {
  const socket = request.socket
  // A request relayed from another node has its whole body already, and no socket of its own.
  const own = socket instanceof Socket
  if (own && !request.complete) {
    // The connection closes after this answer: say so (`Connection: close`), or a client that reuses
    // connections (keep-alive: fetch's pool, a proxy) sends its next request on one being closed. Node
    // then ends the socket with `destroySoon()` once the answer is written, which would reset what the
    // client still sends (its write fails, and it may never read the answer): it is closed gently instead.
    response.setHeader("Connection", "close")
    socket.destroySoon = () => closeGently(socket)
  }
  refuse(response, code, message)
  if (own) request.resume()
}

/** Ends a socket's sending side, keeps dropping what arrives, and cuts it after `CLOSE_WAIT_MS`. */
function closeGently(socket: Socket): void {
  if (socket.destroyed) return
  socket.end()
  const cut = setTimeout(() => socket.destroy(), CLOSE_WAIT_MS)
  cut.unref()
  socket.once("close", () => clearTimeout(cut))
}

/** Answers with a batch of frames, one per line. */
export function answerFrames(response: ServerResponse, body: string): void {
  response.writeHead(200, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  })
  response.end(body)
}

/** Answers an upgrade request with an HTTP error instead of the protocol it asked for. */
export function refuseUpgrade(socket: Duplex, code: HttpErrorCode, message: string): void {
  if (socket.destroyed) return
  const status = httpStatusOf(code)
  const text = JSON.stringify({ code, message })
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  )
}

function statusText(status: number): string {
  return (
    {
      400: "Bad Request",
      401: "Unauthorized",
      403: "Forbidden",
      429: "Too Many Requests",
      503: "Service Unavailable",
    }[status] ?? "Error"
  )
}
