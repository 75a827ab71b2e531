// The same contract on Effect Schema.
import { contract, rpc, stream, topic } from "@switchyard/core"
import * as Schema from "effect/Schema"

export const Chat = contract({
  rpc: { add: rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number }) },
  streams: { countdown: stream({ input: Schema.Number, item: Schema.Number }) },
  topics: { room: topic({ message: Schema.Struct({ user: Schema.String, text: Schema.String }) }) },
})
