import http from "node:http"
import https from "node:https"
import { isIP } from "node:net"
import { type Duplex, pipeline, Readable } from "node:stream"
import tls from "node:tls"
import { createGunzip } from "node:zlib"
import type { FetchLike } from "@switchyard/client-browser"

/** Statuses whose answer has no body (a `Response` refuses one). */
const bodiless = new Set([101, 204, 205, 304])

/**
 * The command's `--proxy http://host:port` (docs/doctor.md#the-command): a `fetch` whose requests go
 * through a forward proxy as a browser's do, on `node:http` (Node's own fetch takes no proxy before Node
 * 24). An `http:` request goes to the proxy with its absolute URL; an `https:` one through a CONNECT tunnel
 * ({@link TlsTunnelAgent}). It asks for gzip and decodes it, as Node's fetch and browsers do, so that a
 * proxy compressing event streams holds them here too. Bodies come back as streams: a body cancelled
 * unread closes its connection. It implements what the transports and the `eventsource` package use: a
 * method, headers, a string body and an abort signal.
 */
export function proxyFetch(proxy: URL): FetchLike {
  const tunnels = new TlsTunnelAgent(proxy)
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input)
      const headers: Record<string, string> = { "accept-encoding": "gzip" }
      for (const [name, value] of new Headers(init.headers)) headers[name] = value
      const method = init.method ?? "GET"
      const signal = init.signal ?? undefined
      const request =
        url.protocol === "https:"
          ? https.request(url, { method, headers, signal, agent: tunnels })
          : http.request({
              host: proxy.hostname,
              port: proxy.port || 80,
              // The absolute URL as the request target: what a forward proxy takes (RFC 9112, 3.2.2).
              path: url.href,
              method,
              headers: { ...headers, host: url.host },
              signal,
            })
      request.on("error", reject)
      request.once("response", (response) => {
        const status = response.statusCode ?? 0
        const answered = new Headers()
        for (const [name, value] of Object.entries(response.headers))
          if (value !== undefined) answered.set(name, Array.isArray(value) ? value.join(", ") : value)
        let body: Readable | null = response
        if (bodiless.has(status) || method === "HEAD") {
          response.resume()
          body = null
        } else if (answered.get("content-encoding") === "gzip") {
          answered.delete("content-length")
          body = pipeline(response, createGunzip(), () => {})
        }
        resolve(
          new Response(body && (Readable.toWeb(body) as ReadableStream<Uint8Array>), {
            status,
            statusText: response.statusMessage ?? "",
            headers: answered,
          }),
        )
      })
      request.end(typeof init.body === "string" ? init.body : undefined)
    })
}

/**
 * An agent whose connections are CONNECT tunnels through `proxy` (for `ws`: `ws:` URLs), as a browser
 * tunnels WebSockets through its proxy. A refused tunnel fails the request with "the proxy refused to
 * tunnel to host:port: CONNECT answered 403".
 */
export class TunnelAgent extends http.Agent {
  constructor(readonly proxy: URL) {
    super()
  }

  override createConnection(options: http.ClientRequestArgs, done?: (error: Error | null, stream: Duplex) => void) {
    tunnel(this.proxy, options, false, done)
    return undefined
  }
}

/** {@link TunnelAgent} with TLS inside the tunnel: `https:` requests and `wss:` URLs. */
export class TlsTunnelAgent extends https.Agent {
  constructor(readonly proxy: URL) {
    super()
  }

  override createConnection(options: http.ClientRequestArgs, done?: (error: Error | null, stream: Duplex) => void) {
    tunnel(this.proxy, options, true, done)
    return undefined
  }
}

/** Opens a CONNECT tunnel to the request's host and port, TLS inside it when `secure`, and hands it to `done`. */
function tunnel(
  proxy: URL,
  options: http.ClientRequestArgs,
  secure: boolean,
  done: ((error: Error | null, stream: Duplex) => void) | undefined,
): void {
  const host = options.hostname ?? options.host ?? "localhost"
  const target = `${isIP(host) === 6 ? `[${host}]` : host}:${options.port ?? (secure ? 443 : 80)}`
  const connect = http.request({
    host: proxy.hostname,
    port: proxy.port || 80,
    method: "CONNECT",
    path: target,
    headers: { host: target },
  })
  connect.once("connect", (response, socket) => {
    if (response.statusCode !== 200) {
      socket.destroy()
      // Worded without "HTTP <status>": the doctor reads that as the server's answer (findings.ts, statusOf).
      return done?.(
        new Error(`the proxy refused to tunnel to ${target}: CONNECT answered ${response.statusCode}`),
        socket,
      )
    }
    const servername = isIP(host) === 0 ? host : undefined
    // Checked against the platform's CAs (NODE_EXTRA_CA_CERTS adds some), as Node's fetch checks them,
    // for `host`: without it, TLS would check the certificate against the proxy's host.
    done?.(null, secure ? tls.connect({ socket, host, ...(servername ? { servername } : {}) }) : socket)
  })
  connect.on("error", (error) => done?.(error, connect.socket as Duplex))
  connect.end()
}
