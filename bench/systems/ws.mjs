// Baseline: a `ws` server that parses each JSON text message and sends it back re-serialised. No envelope,
// no validation: the least a JSON-over-WebSocket server can do. Replies are matched to calls by the
// payload's unique counter `n`, so pipelined calls work without an id field.
import { createServer } from "node:http"
import WebSocket, { WebSocketServer } from "ws"

export const name = "ws"
export const label = "raw ws (JSON echo)"

export async function startServer() {
  const http = createServer((_request, response) => response.writeHead(426).end())
  // Same socket options as Switchyard's transport: no compression.
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 1024 * 1024 })
  wss.on("connection", (socket) => {
    socket.on("error", () => socket.terminate())
    socket.on("message", (data) => socket.send(JSON.stringify(JSON.parse(data))))
  })
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `ws://127.0.0.1:${http.address().port}`,
    async close() {
      for (const socket of wss.clients) socket.terminate()
      wss.close()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

export async function connectClient(url) {
  const socket = new WebSocket(url, { perMessageDeflate: false })
  const pending = new Map()
  socket.on("message", (data) => {
    const reply = JSON.parse(data)
    const resolve = pending.get(reply.n)
    pending.delete(reply.n)
    resolve?.(reply)
  })
  await new Promise((resolve, reject) => {
    socket.once("open", resolve)
    socket.once("error", reject)
  })
  return {
    call(payload) {
      return new Promise((resolve) => {
        pending.set(payload.n, resolve)
        socket.send(JSON.stringify(payload))
      })
    },
    async close() {
      socket.close()
    },
  }
}
