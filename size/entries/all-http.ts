// Standard Schema contract, the four non-WebRTC transports.
import {
  createClient,
  longPollingTransport,
  pollingTransport,
  sseTransport,
  websocketTransport,
} from "@switchyard/client-browser"
import { Chat } from "./contract.standard.ts"

const client = createClient(Chat, {
  url: "/switchyard",
  transports: [websocketTransport(), sseTransport(), longPollingTransport(), pollingTransport()],
})
client.rpc.add({ a: 1, b: 2 }).then(console.log)
