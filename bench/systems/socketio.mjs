// Socket.IO 4.8: `emitWithAck` against `socket.on("echo", (msg, ack) => ack(msg))`, WebSocket transport
// only on both sides (no long-polling start, no upgrade). No validation: Socket.IO has none built in.
// Fan-out: each subscriber's socket joins a room on a "subscribe" event; the server publishes with
// `io.to(room).emit("feed", message)`, which encodes the packet once for the whole room.
import { createServer } from "node:http"
import { Server } from "socket.io"
import { io } from "socket.io-client"

export const name = "socketio"
export const label = "Socket.IO emitWithAck"

/** Server and client of the echo over the given Socket.IO transports (no upgrade between them). */
export function socketioSystem(transports) {
  return {
    async startServer() {
      const http = createServer()
      const server = new Server(http, { transports, serveClient: false })
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
    },
    async connectClient(url) {
      const socket = io(url, { transports, upgrade: false, forceNew: true, reconnection: false })
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
    },
    async startFanoutServer(key) {
      const http = createServer()
      const server = new Server(http, { transports, serveClient: false })
      server.on("connection", (socket) => {
        socket.on("subscribe", (room) => socket.join(room))
      })
      await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
      return {
        url: `http://127.0.0.1:${http.address().port}`,
        subscribers: () => server.sockets.adapter.rooms.get(key)?.size ?? 0,
        publish: (message) => server.to(key).emit("feed", message),
        async close() {
          server.disconnectSockets(true)
          await new Promise((resolve) => server.close(() => resolve()))
        },
      }
    },
    async connectSubscriber(url, key, onMessage) {
      const socket = io(url, { transports, upgrade: false, forceNew: true, reconnection: false })
      socket.on("feed", onMessage)
      await new Promise((resolve, reject) => {
        socket.once("connect", resolve)
        socket.once("connect_error", reject)
      })
      socket.emit("subscribe", key)
      let failure
      socket.on("disconnect", (reason) => {
        failure = new Error(`socket.io disconnected: ${reason}`)
      })
      return {
        failure: () => failure,
        async close() {
          socket.disconnect()
        },
      }
    },
  }
}

export const { startServer, connectClient, startFanoutServer, connectSubscriber } = socketioSystem(["websocket"])
