// Baseline: a `ws` server that parses each JSON text message and sends it back re-serialised. No envelope,
// no validation: the least a JSON-over-WebSocket server can do. Replies are matched to calls by the
// payload's unique counter `n`, so pipelined calls work without an id field.
// Fan-out: a socket subscribes by sending `{"subscribe": key}`; the server stringifies each message once
// and sends the same text to every subscribed socket (the broadcast of ws's README).
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

export async function startFanoutServer(key) {
  const http = createServer((_request, response) => response.writeHead(426).end())
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 1024 * 1024 })
  const subscribed = new Set()
  wss.on("connection", (socket) => {
    socket.on("error", () => socket.terminate())
    socket.on("close", () => subscribed.delete(socket))
    socket.on("message", (data) => {
      if (JSON.parse(data).subscribe === key) subscribed.add(socket)
    })
  })
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `ws://127.0.0.1:${http.address().port}`,
    subscribers: () => subscribed.size,
    publish(message) {
      const data = JSON.stringify(message)
      for (const socket of subscribed) socket.send(data)
    },
    async close() {
      for (const socket of wss.clients) socket.terminate()
      wss.close()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

export async function connectSubscriber(url, key, onMessage) {
  const socket = new WebSocket(url, { perMessageDeflate: false })
  socket.on("message", (data) => onMessage(JSON.parse(data)))
  await new Promise((resolve, reject) => {
    socket.once("open", resolve)
    socket.once("error", reject)
  })
  let failure
  socket.on("close", () => {
    failure = new Error("ws: socket closed")
  })
  socket.send(JSON.stringify({ subscribe: key }))
  return {
    failure: () => failure,
    async close() {
      socket.close()
    },
  }
}
