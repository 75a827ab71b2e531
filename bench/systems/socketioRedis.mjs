// Socket.IO 4.8 across nodes: each server process takes `@socket.io/redis-adapter` on the shared
// redis-server (a pub/sub client and its duplicate, node-redis), so `io.to(room).emit(...)` on one node
// reaches the room's sockets on every node. WebSocket transport only, as in `socketio.mjs`; subscribers
// and their client are the same.
import { createServer } from "node:http"
import { createClient } from "@redis/client"
import { createAdapter } from "@socket.io/redis-adapter"
import { Server } from "socket.io"
import { connectSubscriber } from "./socketio.mjs"

export const name = "socketio-redis"
export const label = "Socket.IO + @socket.io/redis-adapter"
export { connectSubscriber }

/** One node of the fan-out, on the shared redis-server at `redisUrl`. */
export async function startFanoutServer(key, { redisUrl }) {
  const pub = createClient({ url: redisUrl })
  const sub = pub.duplicate()
  for (const client of [pub, sub]) client.on("error", () => {})
  await Promise.all([pub.connect(), sub.connect()])
  const http = createServer()
  const server = new Server(http, { transports: ["websocket"], serveClient: false, adapter: createAdapter(pub, sub) })
  server.on("connection", (socket) => {
    socket.on("subscribe", (room) => socket.join(room))
  })
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    // This node's own subscribers: the runner waits for each node's share.
    subscribers: () => server.of("/").adapter.rooms.get(key)?.size ?? 0,
    publish: (message) => server.to(key).emit("feed", message),
    async close() {
      server.disconnectSockets(true)
      await new Promise((resolve) => server.close(() => resolve()))
      pub.destroy()
      sub.destroy()
    },
  }
}
