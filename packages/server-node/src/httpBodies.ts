import type { IncomingMessage, ServerResponse } from "node:http"
import type { HttpErrorCode } from "@switchyard/core"
import { refuseUnread } from "./httpAnswers.ts"
import type { IncompleteBytes } from "./incompleteBytes.ts"

/** What one body may take: its size, its time, and its share of the bytes being received (`IncompleteBytes`). */
export interface BodyBounds {
  /** Largest body (`httpBodyCap(maxMessageBytes)`); past it, 413 `MESSAGE_TOO_LARGE`. */
  readonly maxBodyBytes: number
  /** Time from the start of reading to the end of the body (`readTimeoutMs`); past it, 408 `READ_TIMEOUT`. */
  readonly readTimeoutMs: number
  readonly incomplete: IncompleteBytes
}

/**
 * Reads a request body as text within its bounds. Every refusal is answered here, with a status and a
 * code: 413 `MESSAGE_TOO_LARGE`, 503 `SERVER_BUSY` (the sender's address, or the server, holds all the
 * unfinished bytes it may), 408 `READ_TIMEOUT`; the promise then resolves to `undefined`, as it does when
 * the client goes away first.
 *
 * @example
 * const body = await readBody(request, response, bounds)
 * if (body === undefined) return // answered already, or nobody is listening
 */
export function readBody(
  request: IncomingMessage,
  response: ServerResponse,
  bounds: BodyBounds,
): Promise<string | undefined> {
  const tooLarge = `bodies are limited to ${bounds.maxBodyBytes} bytes`
  if (Number(request.headers["content-length"] ?? 0) > bounds.maxBodyBytes) {
    refuseUnread(request, response, "MESSAGE_TOO_LARGE", tooLarge)
    return Promise.resolve(undefined)
  }
  const address = bounds.incomplete.addressOf(request)
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (body: string | undefined) => {
      if (done) return
      done = true
      clearTimeout(timer)
      request.off("data", onData)
      request.off("end", onEnd)
      request.off("error", onGone)
      request.off("close", onGone)
      bounds.incomplete.give(address, size)
      resolve(body)
    }
    const stop = (code: HttpErrorCode, message: string) => {
      finish(undefined)
      refuseUnread(request, response, code, message)
    }
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > bounds.maxBodyBytes) return stop("MESSAGE_TOO_LARGE", tooLarge)
      const refused = bounds.incomplete.take(address, chunk.length)
      if (refused) return stop("SERVER_BUSY", bounds.incomplete.refusalMessage(refused))
      size += chunk.length
      chunks.push(chunk)
    }
    const onEnd = () => finish(Buffer.concat(chunks, size).toString("utf8"))
    // The client went away before the end: nobody to answer.
    const onGone = () => finish(undefined)
    const timer = setTimeout(
      () => stop("READ_TIMEOUT", `a body must arrive within ${bounds.readTimeoutMs} ms`),
      bounds.readTimeoutMs,
    )
    request.on("data", onData)
    request.once("end", onEnd)
    request.once("error", onGone)
    request.once("close", onGone)
  })
}
