// Standard Schema contract, WebSocket, and client↔client connections.
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { Chat } from "./contract.standard.ts"

const client = createClient(Chat, { url: "/switchyard", transports: [websocketTransport()] })
client.peers.onConnection(console.log)
