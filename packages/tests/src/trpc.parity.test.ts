// Parity: one tRPC app, the same assertions, over tRPC's own links (httpBatchLink + httpSubscriptionLink,
// wsLink) and over switchyardLink on each transport in Node. What a tRPC user sees must not change when
// they swap the link and the server line (docs/trpc.md). The assertions are in support/trpcParity.ts.
import { httpHarness, switchyardHarness, wsHarness } from "./support/trpcApp.ts"
import { runTrpcParity } from "./support/trpcParity.ts"

runTrpcParity([
  httpHarness,
  wsHarness,
  switchyardHarness("websocket"),
  switchyardHarness("sse"),
  switchyardHarness("long-polling"),
  switchyardHarness("polling"),
])
