import { contract, stream } from "@switchyard/core"
// The Schema module alone: the `effect` barrel would pull all of Effect into the page bundle.
import * as Schema from "effect/Schema"

// #region sample
/** One reading of the server process, taken every `intervalMs` (250 ms by default). */
export const Sample = Schema.Struct({
  /** Which run of the server took it: a restarted server starts counting again, under a new run. */
  run: Schema.String,
  /** 1, 2, 3…: consecutive, so the page can tell a missed sample from a late one. */
  seq: Schema.Int,
  /** When it was taken, in ms since the epoch (the server's clock). */
  at: Schema.Number,
  /** CPU time the process used over the interval, as a percentage of one core. */
  cpu: Schema.Number,
  /** JavaScript heap in use, in MiB. */
  heapMb: Schema.Number,
  /** The event loop's worst delay over the interval, in ms: how late timers and I/O ran at worst. */
  loopMs: Schema.Number,
})
export type Sample = typeof Sample.Type
// #endregion sample

// #region contract
/**
 * The dashboard's contract, shared by `server.ts` and `page.ts`: one stream. `metrics({ run, after })`
 * sends the samples the server still keeps with `seq > after` (all it keeps when `run` is not its own
 * run, e.g. `""` on the first call), then each new one as it is taken, for as long as the page reads.
 */
export const Dashboard = contract({
  streams: {
    metrics: stream({ input: Schema.Struct({ run: Schema.String, after: Schema.Int }), item: Sample }),
  },
})
export type Dashboard = typeof Dashboard
// #endregion contract
