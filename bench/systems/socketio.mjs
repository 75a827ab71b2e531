// Socket.IO 4.8: `emitWithAck` against `socket.on("echo", (msg, ack) => ack(msg))`, WebSocket transport
// only on both sides (no long-polling start, no upgrade). No validation: Socket.IO has none built in.
import { createServer } from "node:http"
import { Server } from "socket.io"
import { io } from "socket.io-client"

export const name = "socketio"
export const label = "Socket.IO emitWithAck"

export async function startServer() {
  const http = createServer()
  const server = new Server(http, { transports: ["websocket"], serveClient: false })
  server.on("connection", (socket) => {
    socket.on("echo", (message, ack) => ack(message))
  })
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    async close() {
      server.disconnectSockets(true)
      await new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

export async function connectClient(url) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false })
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("connect_error", reject)
  })
  return {
    call: (payload) => socket.emitWithAck("echo", payload),
    async close() {
      socket.disconnect()
    },
  }
}
