import { io } from "socket.io-client"
import { type ChatClient, ChatError, type Message } from "../chat.ts"

/** Connects to the Socket.IO app at `url` (its `/chat` namespace) as the owner of `token`. */
export function connectBefore(url: string, token: string): Promise<ChatClient> {
  // #region client
  const socket = io(url, { auth: { token }, transports: ["websocket"], reconnectionDelay: 300, randomizationFactor: 0 })

  const client: ChatClient = {
    join: (room) => socket.emitWithAck("join", room),
    say: async (room, text) => {
      const reply: { message: Message } | { error: "NotJoined" } = await socket.emitWithAck("say", { room, text })
      if ("error" in reply) throw new ChatError(reply.error)
      return reply.message
    },
    onMessage: (listener) => void socket.on("message", listener),
    onConnection: (listener) => {
      socket.on("disconnect", (reason) => reason !== "io client disconnect" && listener("down"))
      // Registered once connected: every later "connect" is a reconnection.
      socket.on("connect", () => listener(socket.recovered ? "recovered" : "new"))
    },
    drop: () => socket.io.engine.close(),
    close: async () => void socket.close(),
  }
  // #endregion client
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(client))
    socket.once("connect_error", (error) => {
      socket.close()
      reject(error.message === "Unauthorized" ? new ChatError("Unauthorized") : error)
    })
  })
}
