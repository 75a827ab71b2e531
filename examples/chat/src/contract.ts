import { contract, rpc, stream, topic } from "@switchyard/core"
// The Schema module alone: the `effect` barrel would pull all of Effect into the page bundle.
import * as Schema from "effect/Schema"

/** A room name: what goes after `#` in the page URL, so URL-safe and short. */
export const RoomName = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,31}$/, { message: "a room name is 1–32 of a–z, 0–9, - and _" }),
)

/** A display name: 1–24 characters, no leading or trailing spaces, no control characters. */
export const UserName = Schema.String.check(
  Schema.isMinLength(1, { message: "a name cannot be empty" }),
  Schema.isMaxLength(24, { message: "a name is at most 24 characters" }),
  Schema.isPattern(/^[^\s\p{Cc}](?:[^\p{Cc}]*[^\s\p{Cc}])?$/u, {
    message: "a name cannot start or end with a space or contain control characters",
  }),
)

/** The text of one message: something visible, at most 500 characters. */
export const MessageText = Schema.String.check(
  Schema.isMaxLength(500, { message: "a message is at most 500 characters" }),
  Schema.isPattern(/\S/, { message: "a message cannot be empty" }),
)

/** A chat message as the server stamped it: `id` orders a room's messages, `at` is the server's clock. */
export const Message = Schema.Struct({
  id: Schema.Int,
  user: UserName,
  text: MessageText,
  at: Schema.Date,
})
export type Message = typeof Message.Type

export const PresenceEvent = Schema.Struct({
  kind: Schema.Literals(["joined", "left"]),
  user: UserName,
  at: Schema.Date,
})
export type PresenceEvent = typeof PresenceEvent.Type

/** Why `join` refused: the name is held by someone else, or this session already sits in the room. */
export const JoinRefused = Schema.Union([
  Schema.TaggedStruct("NameTaken", { user: UserName }),
  Schema.TaggedStruct("AlreadyJoined", { user: UserName }),
])
export type JoinRefused = typeof JoinRefused.Type

export const NotJoined = Schema.TaggedStruct("NotJoined", { room: RoomName })

/**
 * The chat's contract, shared by `server.ts` and `page.ts`.
 *
 * - `streams.join` is how a user is in a room: the server keeps the user online for as long as the
 *   stream is open, and sends the room's online list at once and again on every change. Ending the
 *   stream (leaving the loop, aborting it, closing the client, or the session ending) is leaving.
 * - `rpc.say` posts a message; the server stamps the author and the time and fans it out on
 *   `topics.room(room)`. Clients only subscribe to the topics; they cannot publish on them.
 * - `topics.presence(room)` carries "joined" / "left" events for the message log.
 */
export const Chat = contract({
  rpc: {
    say: rpc({ input: Schema.Struct({ room: RoomName, text: MessageText }), output: Message, error: NotJoined }),
    who: rpc({ input: Schema.Struct({ room: RoomName }), output: Schema.Array(UserName) }),
    history: rpc({ input: Schema.Struct({ room: RoomName }), output: Schema.Array(Message) }),
  },
  streams: {
    join: stream({
      input: Schema.Struct({ room: RoomName, user: UserName }),
      item: Schema.Array(UserName),
      error: JoinRefused,
    }),
  },
  topics: {
    room: topic({ message: Message }),
    presence: topic({ message: PresenceEvent }),
  },
})
export type Chat = typeof Chat
