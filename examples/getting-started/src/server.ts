// #region server
import { setTimeout as sleep } from "node:timers/promises"
import { createServer, type Server } from "@switchyard/server-node"
import { Calc } from "./contract.ts"

/** The Switchyard server of the app: one handler per procedure and stream of the contract. */
export function calcServer(): Server<Calc> {
  return createServer(Calc, {
    rpc: {
      // `ctx.fail` ends the call with the declared error; its type is checked against the contract.
      divide: ({ a, b }, ctx) => (b === 0 ? ctx.fail({ _tag: "DivisionByZero", dividend: a }) : a / b),
    },
    streams: {
      // Any async iterable is a stream: each `yield` is one item sent to the client.
      countdown: async function* ({ from }, ctx) {
        for (let n = from; n >= 0; n--) {
          yield { n, at: new Date() }
          // `ctx.signal` aborts when the client stops reading, so the loop ends with it.
          if (n > 0) await sleep(250, undefined, { signal: ctx.signal })
        }
      },
    },
  })
}
// #endregion server
