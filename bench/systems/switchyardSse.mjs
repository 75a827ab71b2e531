// Switchyard on its Server-Sent Events transport: downstream on one `text/event-stream` response read by
// the `eventsource` package's EventSource (Node has none built in), upstream in POSTs; both through
// `nodeFetch` (node:http with a keep-alive agent) rather than Node's built-in fetch.
// The same echo contract and fan-out as `switchyard.mjs`.

import { nodeFetch } from "@switchyard/client-browser/node"
import { EventSource } from "eventsource"
import { EchoContract, switchyardSystem } from "./switchyard.mjs"

export const name = "switchyard-sse"
export const label = "Switchyard over Server-Sent Events"

export const { startServer, connectClient, startFanoutServer, connectSubscriber } = switchyardSystem(EchoContract, {
  transports: ["sse"],
  EventSource,
  fetch: nodeFetch(),
})
