import { contract, rpc, topic } from "@switchyard/core"
import * as Schema from "effect/Schema"

// #region contract
/** A note on the board: who wrote it, its text, and the node that was holding the writer's session. */
export const Note = Schema.Struct({
  author: Schema.String,
  text: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)),
  node: Schema.String,
})
export type Note = typeof Note.Type

/** What each member of a board is listed with (its presence data). */
export const Member = Schema.Struct({ name: Schema.String })

/**
 * A shared board: `post` adds a note (the server stamps the author and its node and publishes it on
 * `topics.board(key)`); subscribing to a board is being listed in its presence, on every node.
 */
export const Board = contract({
  rpc: {
    post: rpc({ input: Schema.Struct({ board: Schema.String, text: Note.fields.text }), output: Note }),
    /** Which node holds this session right now. */
    whereAmI: rpc({ input: Schema.Struct({}), output: Schema.String }),
  },
  topics: {
    board: topic({ message: Note, presence: Member }),
  },
})
export type Board = typeof Board
// #endregion contract
