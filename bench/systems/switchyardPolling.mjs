// Switchyard on its polling transport (`nodeFetch`, node:http): a GET at an adaptive interval (25 ms while frames
// flow, the client's default), answered at once with what is queued; upstream in POSTs. The same echo
// contract and fan-out as `switchyard.mjs`.
import { nodeFetch } from "@switchyard/client-browser/node"
import { EchoContract, switchyardSystem } from "./switchyard.mjs"

export const name = "switchyard-polling"
export const label = "Switchyard over HTTP polling"

export const { startServer, connectClient, startFanoutServer, connectSubscriber } = switchyardSystem(EchoContract, {
  transports: ["polling"],
  fetch: nodeFetch(),
})
