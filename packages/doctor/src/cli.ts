#!/usr/bin/env node
// `switchyard-doctor <url>` (`npx @switchyard/doctor <url>`): the doctor in Node (docs/doctor.md). It tries
// the transports as a Node client of this machine would, with `ws` (which tells a refused upgrade's status),
// the `eventsource` package and Node's own fetch (which asks for gzip, as a browser does, so a proxy that
// compresses event streams holds them here too); behind `--proxy`, proxy.ts's fetch and tunnels instead.
import { parseArgs } from "node:util"
import { type FetchLike, websocketTransport } from "@switchyard/client-browser"
import { EventSource } from "eventsource"
import WebSocket from "ws"
import { type DoctorPlatform, defaultTimings, runDoctor } from "./doctor.ts"
import { proxyFetch, TlsTunnelAgent, TunnelAgent } from "./proxy.ts"
import { watchedHttpTransports } from "./statuses.ts"
import { formatReport } from "./text.ts"

const usage = `usage: switchyard-doctor <url> [--json] [--timeout <ms>] [--hold <ms>] [--proxy <url>] [--header <h>]...

  <url>            the server's URL as createClient takes it, e.g. https://api.example/switchyard
  --json           print the report as JSON
  --timeout <ms>   how long a transport's first echo may take (default ${defaultTimings.timeoutMs})
  --hold <ms>      how long each link is held open to see whether something cuts it (default ${defaultTimings.holdMs}, at most 9000)
  --proxy <url>    go through this forward proxy, http://host:port: requests by absolute URL (https: and
                   WebSocket through CONNECT tunnels), as a browser set to use it
  --header <h>     "Name: value", sent with every request and the WebSocket upgrade (credentials for a
                   server with authenticate); repeatable

Exits 0 when some transport works, 1 when none does, 2 on a usage error.
`

/** The last error `ws` reported, per socket: "Unexpected server response: 426" for a refused upgrade. */
let webSocketError: string | undefined

/**
 * `ws` remembering its error (the transport reads only the close, which does not carry the status), with
 * the command's headers and, behind `--proxy`, its tunnels.
 */
function tellingWebSocket(headers: Readonly<Record<string, string>>, proxy: URL | undefined) {
  const tunnels = proxy && { plain: new TunnelAgent(proxy), tls: new TlsTunnelAgent(proxy) }
  return class TellingWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      const secure = String(address).startsWith("wss:")
      const agent = tunnels && (secure ? tunnels.tls : tunnels.plain)
      super(address, protocols, { ...options, headers: { ...headers, ...options?.headers }, ...(agent && { agent }) })
      this.on("error", (error: Error) => {
        webSocketError = error.message
      })
    }
  }
}

/** `fetch` with `headers` added to every request (the transport's own win over them). */
function withHeaders(fetch: FetchLike, headers: Readonly<Record<string, string>>): FetchLike {
  if (Object.keys(headers).length === 0) return fetch
  return (input, init = {}) => {
    const merged = new Headers(headers)
    for (const [name, value] of new Headers(init.headers)) merged.set(name, value)
    return fetch(input, { ...init, headers: merged })
  }
}

/** Runs the doctor with `args` (without `node` and the script), writing to `out`; resolves to the exit code. */
export async function main(args: readonly string[], out: (text: string) => void): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(args)
  } catch (error) {
    out(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`)
    return 2
  }
  const { url, json, timeoutMs, holdMs, proxy, headers } = parsed
  const fetch = withHeaders(
    proxy === undefined ? (globalThis.fetch.bind(globalThis) as FetchLike) : proxyFetch(proxy),
    headers,
  )
  const http = watchedHttpTransports(fetch, EventSource)
  const platform: DoctorPlatform = {
    fetch,
    transports: [websocketTransport({ WebSocket: tellingWebSocket(headers, proxy) }), ...http.transports],
    failure: (id) => (id === "websocket" ? webSocketError : http.said(id)),
  }
  const report = await runDoctor({ url, timeoutMs, holdMs }, platform)
  out(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
  return report.endsOn === undefined ? 1 : 0
}

function parse(args: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      timeout: { type: "string" },
      hold: { type: "string" },
      proxy: { type: "string" },
      header: { type: "string", multiple: true },
    },
  })
  const [url, ...rest] = positionals
  if (url === undefined || rest.length > 0) throw new Error("give exactly one URL")
  if (!/^https?:\/\//i.test(url)) throw new Error(`not an http(s) URL: ${url}`)
  const ms = (text: string | undefined, fallback: number, most: number) => {
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < 1 || n > most) throw new Error(`not a time in ms from 1 to ${most}: ${text}`)
    return n
  }
  return {
    url,
    json: values.json === true,
    timeoutMs: ms(values.timeout, defaultTimings.timeoutMs, 60_000),
    // A probe link must say HELLO within the server's handshakeTimeoutMs (10 s): it is held for less.
    holdMs: ms(values.hold, defaultTimings.holdMs, 9000),
    proxy: values.proxy === undefined ? undefined : proxyUrl(values.proxy),
    headers: Object.fromEntries((values.header ?? []).map(header)),
  }
}

/** `--proxy`: an `http://host:port` URL (a proxy spoken to over TLS is not supported). */
function proxyUrl(text: string): URL {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {}
  if (url?.protocol !== "http:" || url.pathname !== "/" || url.search !== "")
    throw new Error(`not a proxy URL (http://host:port): ${text}`)
  return url
}

/** `--header "Name: value"`: its name (a token) and value. */
function header(text: string): [string, string] {
  const colon = text.indexOf(":")
  const name = text.slice(0, colon).trim()
  const value = text.slice(colon + 1).trim()
  if (colon < 1 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value))
    throw new Error(`not a header ("Name: value"): ${text}`)
  return [name.toLowerCase(), value]
}

/**
 * Runs the command as the program: bin/switchyard-doctor.mjs, the file npm links as `switchyard-doctor`,
 * calls it (a bin in the sources rather than dist/ lets `pnpm install` link it before the first build).
 */
export function run(): void {
  main(process.argv.slice(2), (text) => process.stdout.write(text)).then(
    (code) => {
      process.exitCode = code
      // Links the doctor closed may leave sockets to finish closing: do not wait for them.
      setTimeout(() => process.exit(code), 100).unref()
    },
    (error: unknown) => {
      process.stderr.write(`switchyard-doctor: ${error instanceof Error ? error.stack : String(error)}\n`)
      process.exit(1)
    },
  )
}
