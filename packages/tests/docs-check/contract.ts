// `./contract.ts` as the docs' blocks import it: the contract of the README's example
// (packages/tests/src/support/docBlocks.ts copies it beside the blocks).

import { contract, rpc, stream, topic } from "@switchyard/core"
import * as Schema from "effect/Schema"

export const Chat = contract({
  rpc: { add: rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number }) },
  streams: { countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }) },
  topics: { room: topic({ message: Schema.Struct({ user: Schema.String, text: Schema.String, at: Schema.Date }) }) },
})
