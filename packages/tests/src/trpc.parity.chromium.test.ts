// Parity in Chromium: the same assertions as trpc.parity.test.ts, on a tRPC client with switchyardLink
// running in the page (its native WebSocket and fetch), over WebSocket and long polling.
import { chromiumHarness } from "./support/trpcChromium.ts"
import { runTrpcParity } from "./support/trpcParity.ts"

runTrpcParity([chromiumHarness("websocket"), chromiumHarness("long-polling")])
