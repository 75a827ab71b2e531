import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Server } from "socket.io"
import { type Message, Rooms, userOf } from "../chat.ts"

/** The Socket.IO app: a `/chat` namespace with rooms, acknowledgements and connection state recovery. */
export async function startBefore(port = 0, host = "127.0.0.1"): Promise<{ url: string; close(): Promise<void> }> {
  const http = createHttpServer()
  const rooms = new Rooms()
  // #region server
  const io = new Server(http, {
    // A client that reconnects within 2 minutes gets its id, rooms and the packets it missed.
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000 },
  })
  const chat = io.of("/chat")

  // Middleware: the token from the client's `auth` decides who this is, or refuses the connection.
  chat.use((socket, next) => {
    const user = userOf(socket.handshake.auth.token)
    if (user === undefined) return next(new Error("Unauthorized"))
    socket.data.user = user
    next()
  })

  chat.on("connection", (socket) => {
    socket.on("join", (room: string, ack: (history: readonly Message[]) => void) => {
      void socket.join(room)
      ack(rooms.history(room))
    })
    socket.on("say", ({ room, text }: { room: string; text: string }, ack: (reply: unknown) => void) => {
      if (!socket.rooms.has(room)) return ack({ error: "NotJoined" })
      const message = rooms.record(room, socket.data.user, text)
      chat.to(room).emit("message", message) // everyone in the room, the sender too
      ack({ message })
    })
  })
  // #endregion server
  await new Promise<void>((resolve) => http.listen(port, host, resolve))
  const { port: bound } = http.address() as AddressInfo
  return {
    url: `http://${host}:${bound}/chat`,
    close: async () => {
      await io.close() // closes `http` too
    },
  }
}
