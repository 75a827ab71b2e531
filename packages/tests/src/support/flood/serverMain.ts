import { monitorEventLoopDelay } from "node:perf_hooks"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"

/**
 * A server with the default limits in a process of its own (bundled by `serverProcess`): prints
 * `url <url>`, then `sessions <n>` and `lag <p99 ms> <max ms>` (its event loop's delay so far) every
 * 250 ms, and closes when its stdin ends.
 */
const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
  onError: () => {},
})
const { url } = await server.listen(0, "127.0.0.1")
process.stdout.write(`url ${url}\n`)
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
const report = setInterval(() => {
  const ms = (ns: number) => (ns / 1e6).toFixed(1)
  process.stdout.write(`sessions ${server.sessionCount}\nlag ${ms(lag.percentile(99))} ${ms(lag.max)}\n`)
}, 250)
process.stdin.on("end", async () => {
  clearInterval(report)
  await server.close()
  process.exit(0)
})
process.stdin.resume()
