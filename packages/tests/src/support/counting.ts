import { type TestContract, type TestServerState, testHandlers } from "@switchyard/core/testing"
import type { Handlers } from "@switchyard/server-node"

// Apart from fleet.ts, which re-exports it, so that a node process (cluster/nodeMain.ts) can take it without
// the client side and the harnesses.

/** The `add` calls the server ran, by `"<client>:<call>"`: each must run exactly once. */
export type Runs = Map<string, number>

/** The test contract's handlers, with `add` counting its runs (client index in `b`, call index in `a`). */
export function countingHandlers(runs: Runs, state: TestServerState = { aborted: new Set() }): Handlers<TestContract> {
  const base = testHandlers(state)
  const handlers = {
    ...base,
    rpc: {
      ...base.rpc,
      add: ({ a, b }: { a: number; b: number }) => {
        const key = `${b}:${a}`
        runs.set(key, (runs.get(key) ?? 0) + 1)
        return a + b
      },
    },
  }
  return handlers as unknown as Handlers<TestContract>
}
