import http from "node:http"
import { control, FrameType, PROTOCOL_VERSION } from "@switchyard/core"
import WebSocket from "ws"

/**
 * The flood of issue 12, item 3: HELLOs without a token (each asks for a new session) from one address,
 * as fast as the loops go. A WebSocket loop opens a socket, sends HELLO, reads the answer (WELCOME, or a
 * BYE with the refusal's code, or an HTTP refusal of the upgrade) and drops the socket, leaving any session
 * it was given to wait for a resume. A long-polling loop POSTs the opening of a link with HELLO and reads
 * the status (200: a link and a session; 429/503: refused, with the code in the body). Nothing else.
 */
export interface FloodOptions {
  /** The server's transport URL (`http://127.0.0.1:port/switchyard`). */
  readonly url: string
  readonly transport: "websocket" | "long-polling"
  /** Requests in flight at once. */
  readonly loops: number
  /** The address the flood's sockets are bound to (default: the system's choice, 127.0.0.1 on loopback). */
  readonly localAddress?: string
}

/** What the flood saw, by outcome: `welcomed` (a session), a refusal's code, `http <status>`, `error`. */
export type FloodCounts = Record<string, number>

/** A running flood: `stop()` ends every loop and resolves with the counts. */
export interface Flood {
  readonly counts: FloodCounts
  stop(): Promise<FloodCounts>
}

const hello = control.hello(PROTOCOL_VERSION, null, 0)

export function flood(options: FloodOptions): Flood {
  const counts: FloodCounts = {}
  let stopped = false
  const count = (outcome: string) => {
    counts[outcome] = (counts[outcome] ?? 0) + 1
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.loops })
  const attempt = options.transport === "websocket" ? () => viaWebSocket(options) : () => viaLongPolling(options, agent)
  const loop = async () => {
    while (!stopped) count(await attempt())
  }
  const loops = Array.from({ length: options.loops }, loop)
  return {
    counts,
    async stop() {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
      return counts
    },
  }
}

function viaWebSocket(options: FloodOptions): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(options.url.replace(/^http/, "ws"), {
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    })
    let done = false
    const finish = (outcome: string) => {
      if (done) return
      done = true
      ws.terminate()
      resolve(outcome)
    }
    ws.on("open", () => ws.send(hello))
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)) as unknown[]
      if (frame[0] === FrameType.WELCOME) finish("welcomed")
      else if (frame[0] === FrameType.BYE) finish(String(frame[1]))
    })
    ws.on("unexpected-response", (_request, response) => finish(`http ${response.statusCode}`))
    ws.on("error", () => finish("error"))
    ws.on("close", () => finish("closed"))
  })
}

function viaLongPolling(options: FloodOptions, agent: http.Agent): Promise<string> {
  return new Promise((resolve) => {
    const request = http.request(
      `${options.url}?transport=long-polling`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "text/plain;charset=UTF-8" },
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("error", () => resolve("error"))
        response.on("end", () => {
          if (response.statusCode === 200) return resolve("welcomed")
          try {
            const { code } = JSON.parse(Buffer.concat(chunks).toString()) as { code?: unknown }
            resolve(typeof code === "string" ? `${code} ${response.statusCode}` : `http ${response.statusCode}`)
          } catch {
            resolve(`http ${response.statusCode}`)
          }
        })
      },
    )
    request.on("error", () => resolve("error"))
    request.end(hello)
  })
}
