import { contract, rpc, topic } from "@switchyard/core"
import * as Schema from "effect/Schema"

// #region contract
const Room = Schema.String.check(Schema.isPattern(/^[a-z0-9-]{1,32}$/))
const Message = Schema.Struct({ id: Schema.Int, room: Room, user: Schema.String, text: Schema.String })

/** The events of the Socket.IO app, declared once for server and client: names, payloads, replies. */
export const Chat = contract({
  rpc: {
    // socket.emit("join", room, ack)
    join: rpc({ input: Schema.Struct({ room: Room }), output: Schema.Array(Message) }),
    // socket.emit("say", { room, text }, ack), whose ack was { message } or { error: "NotJoined" }
    say: rpc({
      input: Schema.Struct({ room: Room, text: Schema.String.check(Schema.isMaxLength(500)) }),
      output: Message,
      error: Schema.TaggedStruct("NotJoined", { room: Room }),
    }),
  },
  topics: {
    // chat.to(room).emit("message", message): one key per room
    room: topic({ message: Message }),
  },
})
// #endregion contract
export type Chat = typeof Chat
