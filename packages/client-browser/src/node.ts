import http from "node:http"
import https from "node:https"
import { Readable } from "node:stream"
import type { FetchLike } from "./transports/http.ts"

export interface NodeFetchOptions {
  /** Agent for `http:` URLs. Default: a keep-alive agent of this `nodeFetch`. */
  readonly httpAgent?: http.Agent
  /** Agent for `https:` URLs. Default: a keep-alive agent of this `nodeFetch`. */
  readonly httpsAgent?: https.Agent
}

/**
 * A `fetch` for the HTTP transports in Node, on `node:http` with keep-alive agents
 * (docs/http-transports.md, "In Node"). Node's built-in `fetch` (undici) costs about twice as much per
 * request; this one implements what the transports and the `eventsource` package use: a method, headers,
 * a string or byte body and an abort signal. An event stream comes back as a web `ReadableStream`; any
 * other body is read whole before the promise resolves, so that the connection goes back to the agent.
 *
 * @example
 * import { nodeFetch } from "@switchyard/client-browser/node"
 * import { EventSource } from "eventsource"
 * createClient(Chat, { url, transports: ["sse"], EventSource, fetch: nodeFetch() })
 */
export function nodeFetch(options: NodeFetchOptions = {}): FetchLike {
  const httpAgent = options.httpAgent ?? new http.Agent({ keepAlive: true })
  const httpsAgent = options.httpsAgent ?? new https.Agent({ keepAlive: true })
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined
      if (signal?.aborted) return reject(abortError(signal))
      let url: URL
      try {
        url = new URL(input)
      } catch (cause) {
        return reject(new TypeError(`switchyard: invalid URL ${input}`, { cause }))
      }
      const secure = url.protocol === "https:"
      if (!secure && url.protocol !== "http:") return reject(new TypeError(`switchyard: unsupported URL ${input}`))
      const body = requestBody(init.body)
      const headers = requestHeaders(init.headers)
      if (body !== undefined) headers["content-length"] = String(body.byteLength)
      const request = (secure ? https : http).request(url, {
        method: init.method ?? "GET",
        headers,
        agent: secure ? httpsAgent : httpAgent,
      })
      let settled = false
      const fail = (error: unknown) => {
        signal?.removeEventListener("abort", onAbort)
        if (settled) return
        settled = true
        reject(signal?.aborted ? abortError(signal) : new TypeError("fetch failed", { cause: error }))
      }
      const onAbort = () => request.destroy(abortError(signal as AbortSignal))
      signal?.addEventListener("abort", onAbort, { once: true })
      request.on("error", fail)
      request.on("response", (response) => {
        const status = response.statusCode ?? 0
        const responseHeaders = new Headers()
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(", ") : value)
        }
        const init = { status, statusText: response.statusMessage ?? "", headers: responseHeaders }
        response.on("error", fail)
        if ((responseHeaders.get("content-type") ?? "").startsWith("text/event-stream")) {
          // Aborting destroys the request, which errors this stream for its reader.
          response.on("close", () => signal?.removeEventListener("abort", onAbort))
          settled = true
          return resolve(new Response(Readable.toWeb(response) as ReadableStream<Uint8Array>, init))
        }
        const chunks: Buffer[] = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => {
          signal?.removeEventListener("abort", onAbort)
          if (settled) return
          settled = true
          const empty = status === 204 || status === 205 || status === 304
          resolve(new Response(empty ? null : Buffer.concat(chunks), init))
        })
      })
      request.end(body)
    })
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new DOMException("This operation was aborted", "AbortError")
}

function requestBody(body: RequestInit["body"]): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === "string") return Buffer.from(body)
  if (body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  throw new TypeError("switchyard: nodeFetch takes a string or byte body")
}

function requestHeaders(headers: RequestInit["headers"]): Record<string, string> {
  const out: Record<string, string> = {}
  if (headers === undefined) return out
  const entries = headers instanceof Headers || Array.isArray(headers) ? headers : Object.entries(headers)
  for (const [name, value] of entries) out[name.toLowerCase()] = value
  return out
}
