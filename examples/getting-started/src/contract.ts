// #region contract
import { contract, rpc, stream } from "@switchyard/core"
// The Schema module alone: the `effect` barrel would pull all of Effect into the page's bundle.
import * as Schema from "effect/Schema"

export const Calc = contract({
  rpc: {
    divide: rpc({
      input: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
      output: Schema.Number,
      // The declared failure: the server fails with it, the client receives it typed.
      error: Schema.TaggedStruct("DivisionByZero", { dividend: Schema.Number }),
    }),
  },
  streams: {
    countdown: stream({
      // Checked on both sides: a client cannot ask for a countdown from 1,000,000.
      input: Schema.Struct({ from: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10 })) }),
      // A Date on the wire is a string; the client gets a Date back.
      item: Schema.Struct({ n: Schema.Int, at: Schema.Date }),
    }),
  },
})
export type Calc = typeof Calc
// #endregion contract
