// Standard Schema contract, WebSocket, and client↔client connections.
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { peers } from "@switchyard/client-browser/peers"
import { Chat } from "./contract.standard.ts"

const client = createClient(Chat, { url: "/switchyard", transports: [websocketTransport()], peers: peers() })
client.peers.onConnection(console.log)
