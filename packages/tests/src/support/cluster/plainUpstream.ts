import { EventEmitter, once } from "node:events"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { WebSocketServer } from "ws"

/**
 * A plain HTTP + WebSocket server on 127.0.0.1 standing for a node behind a load balancer, in the tests of
 * the balancers themselves: it answers every request (body echoed) and greets every WebSocket with its
 * name; `/sse` opens an event stream and `/hold` holds the request, both left to the test to write and end.
 */
export interface Upstream {
  readonly name: string
  readonly port: number
  readonly http: Server
  /** Responses held open by `/hold` and `/sse`, to write to or end from the test. */
  readonly held: ServerResponse[]
  /** Emits `"held"` with each response it holds. */
  readonly events: EventEmitter
  /** Held responses whose client went away before they ended. */
  readonly aborted: number
  readonly wss: WebSocketServer
  close(): Promise<void>
}

export async function plainUpstream(name: string): Promise<Upstream> {
  const held: ServerResponse[] = []
  const events = new EventEmitter()
  let aborted = 0
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/sse") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" })
      res.write(`data: ${name} 1\n\n`)
      held.push(res)
    } else if (req.url === "/hold") {
      held.push(res)
    } else {
      let body = ""
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString()
      })
      req.on("end", () => res.end(`${name}${body ? ` ${body}` : ""}`))
      return
    }
    res.on("close", () => {
      if (!res.writableFinished) aborted++
    })
    events.emit("held", res)
  })
  const wss = new WebSocketServer({ server: http })
  wss.on("connection", (socket) => socket.send(name))
  http.listen(0, "127.0.0.1")
  await once(http, "listening")
  const result: Upstream = {
    name,
    port: (http.address() as AddressInfo).port,
    http,
    held,
    events,
    wss,
    get aborted() {
      return aborted
    },
    async close() {
      for (const client of wss.clients) client.terminate()
      wss.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
  return result
}
