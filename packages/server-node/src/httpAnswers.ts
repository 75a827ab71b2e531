import type { ServerResponse } from "node:http"
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

/** Answers 410 for a link that is closed or unknown. */
export function refuseGoneLink(response: ServerResponse): void {
  refuse(response, "LINK_GONE", "this link is closed or unknown; open a new one")
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
