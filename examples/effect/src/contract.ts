// #region errors
import { contract, rpc, stream } from "@switchyard/core"
import * as Schema from "effect/Schema"

// Schema.TaggedError classes: values an Effect fails with (`yield* new OutOfStock(…)`), matched by
// `_tag` (`Effect.catchTag`), and schemas the contract encodes them with.
export class UnknownItem extends Schema.TaggedError<UnknownItem>()("UnknownItem", { item: Schema.String }) {}
export class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", {
  item: Schema.String,
  left: Schema.Int,
}) {}
// #endregion errors

// #region contract
export const Shop = contract({
  rpc: {
    /** Takes `quantity` units of `item` off the shelf; answers how many are left. */
    reserve: rpc({
      input: Schema.Struct({ item: Schema.String, quantity: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)) }),
      output: Schema.Struct({ item: Schema.String, left: Schema.Int }),
      error: Schema.Union([UnknownItem, OutOfStock]),
    }),
  },
  streams: {
    /** The units of `item` in stock: now, then after every change, until the client stops reading. */
    stock: stream({ input: Schema.Struct({ item: Schema.String }), item: Schema.Int, error: UnknownItem }),
  },
})
export type Shop = typeof Shop
// #endregion contract
