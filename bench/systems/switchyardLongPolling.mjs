// Switchyard on its long-polling transport (Node's fetch), the same echo contract and fan-out as
// `switchyard.mjs`.
import { EchoContract, switchyardSystem } from "./switchyard.mjs"

export const name = "switchyard-long-polling"
export const label = "Switchyard over HTTP long polling"

export const { startServer, connectClient, startFanoutServer, connectSubscriber } = switchyardSystem(EchoContract, {
  transports: ["long-polling"],
})
