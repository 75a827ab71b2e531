import { contract, rpc, stream } from "@switchyard/core"
import * as Schema from "effect/Schema"

/** The app nginx fronts: one call and one stream, enough to see every transport pass through the proxy. */
export const Status = contract({
  rpc: {
    /** Greets, and says which transport carried the call. */
    hello: rpc({ input: Schema.Struct({ name: Schema.String }), output: Schema.String }),
  },
  streams: {
    /** `count` numbers, `everyMs` apart: a stream that has to pass nginx as it is written. */
    ticks: stream({ input: Schema.Struct({ count: Schema.Number, everyMs: Schema.Number }), item: Schema.Number }),
  },
})
export type Status = typeof Status
