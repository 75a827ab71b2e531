import { contract, rpc, topic } from "@switchyard/core"
// The Schema module alone: the `effect` barrel would pull all of Effect into the page bundle.
import * as Schema from "effect/Schema"

// #region room-name
/** A room name: what goes after `#` in the page URL, so URL-safe and short. */
export const RoomName = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,31}$/, { message: "a room name is 1–32 of a–z, 0–9, - and _" }),
)
// #endregion room-name

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

// #region shapes
/** A chat message as the server stamped it: `id` orders a room's messages, `at` is the server's clock. */
export const Message = Schema.Struct({
  id: Schema.Int,
  user: UserName,
  text: MessageText,
  at: Schema.Date,
})
export type Message = typeof Message.Type

/** What each member of a room is listed with (the room's presence, docs/presence.md). */
export const Member = Schema.Struct({ user: UserName })
export type Member = typeof Member.Type

/** Why `join` refused: the name is held by someone else, or this session already sits in the room. */
export const JoinRefused = Schema.Union([
  Schema.TaggedStruct("NameTaken", { user: UserName }),
  Schema.TaggedStruct("AlreadyJoined", { user: UserName }),
])
export type JoinRefused = typeof JoinRefused.Type

export const NotJoined = Schema.TaggedStruct("NotJoined", { room: RoomName })
// #endregion shapes

/**
 * The chat's contract, shared by `server.ts` and `page.ts`.
 *
 * - Being in a room is being subscribed to `topics.online(room)`, whose presence lists each member with
 *   its name, on every node (docs/presence.md): `rpc.join` claims the name for this session first, then
 *   the subscription lists the member under it. Unsubscribing (or the session ending) is leaving; every
 *   subscriber hears joins and leaves with `subscribe(l, { presence: { join, leave } })`.
 * - `rpc.say` posts a message; the server stamps the author and the time and fans it out on
 *   `topics.room(room)`. Clients only subscribe to the topics; they cannot publish on them.
 */
// #region contract
export const Chat = contract({
  rpc: {
    /** Claims `user` in `room` for this session; answers who is online there already. */
    join: rpc({
      input: Schema.Struct({ room: RoomName, user: UserName }),
      output: Schema.Array(UserName),
      error: JoinRefused,
    }),
    say: rpc({ input: Schema.Struct({ room: RoomName, text: MessageText }), output: Message, error: NotJoined }),
    who: rpc({ input: Schema.Struct({ room: RoomName }), output: Schema.Array(UserName) }),
    history: rpc({ input: Schema.Struct({ room: RoomName }), output: Schema.Array(Message) }),
  },
  topics: {
    room: topic({ message: Message }),
    // Nothing is published on it: it is there for its members.
    online: topic({ message: Schema.Null, presence: Member }),
  },
})
export type Chat = typeof Chat
// #endregion contract
