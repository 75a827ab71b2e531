import { createServer } from "@switchyard/server-node"
import { Rooms, userOf } from "../chat.ts"
import { Chat } from "./contract.ts"

/** The same app on Switchyard: the contract's `join` and `say`, the `room` topic, `authenticate`. */
export async function startAfter(port = 0, host = "127.0.0.1"): Promise<{ url: string; close(): Promise<void> }> {
  const rooms = new Rooms()
  // #region server
  /** The rooms each session joined (Socket.IO kept this as `socket.rooms`). */
  const joined = new Map<string, Set<string>>()
  const inRoom = (sessionId: string, room: string) => joined.get(sessionId)?.has(room) === true

  // `{ user }` is what `authenticate` returns: every handler's `ctx.auth` (Socket.IO's `socket.data`).
  const server = createServer<Chat, { user: string }>(
    Chat,
    {
      rpc: {
        join: ({ room }, ctx) => {
          joined.set(ctx.sessionId, (joined.get(ctx.sessionId) ?? new Set()).add(room))
          return rooms.history(room)
        },
        say: ({ room, text }, ctx) => {
          if (!inRoom(ctx.sessionId, room)) return ctx.fail({ _tag: "NotJoined", room })
          const message = rooms.record(room, ctx.auth.user, text)
          server.topics.room(room).publish(message) // every subscriber of the room, the sender too
          return message
        },
      },
      // Receiving a room's messages is subscribing to its key, allowed once joined; only the server publishes.
      topics: { room: { canSubscribe: (room, ctx) => inRoom(ctx.sessionId, room), canPublish: () => false } },
    },
    {
      path: "/chat",
      // Middleware → authenticate: runs on every connection; a throw refuses it (AUTH_REFUSED to the client).
      authenticate: (request) => {
        const user = userOf(new URL(request.url ?? "/", "http://localhost").searchParams.get("token"))
        if (user === undefined) throw new Error("Unauthorized")
        return { user }
      },
      // Connection state recovery → sessions: a client that reconnects within the resume window gets
      // the same session, its subscriptions and every frame it missed (60 s by default; 2 min as before).
      limits: { resumeWindowMs: 2 * 60_000 },
      onSessionEnd: (session) => void joined.delete(session.id),
    },
  )
  // #endregion server
  const { url } = await server.listen(port, host)
  return { url, close: () => server.close() }
}
