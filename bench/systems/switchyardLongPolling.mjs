// Switchyard on its long-polling transport, the same echo contract and fan-out as `switchyard.mjs`.
// Requests go through `nodeFetch` (node:http with a keep-alive agent), as Socket.IO's Node client goes
// through node:http (xmlhttprequest-ssl); Node's built-in fetch costs about twice as much per request.
import { nodeFetch } from "@switchyard/client-browser/node"
import { EchoContract, switchyardSystem } from "./switchyard.mjs"

export const name = "switchyard-long-polling"
export const label = "Switchyard over HTTP long polling"

export const { startServer, connectClient, startFanoutServer, connectSubscriber } = switchyardSystem(EchoContract, {
  transports: ["long-polling"],
  fetch: nodeFetch(),
})
