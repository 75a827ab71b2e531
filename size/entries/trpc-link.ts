// A tRPC client over Switchyard: @trpc/client with switchyardLink over WebSocket (the Switchyard client
// it makes, and the contract every router is served with).
import { websocketTransport } from "@switchyard/client-browser"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTRPCClient } from "@trpc/client"
import type { AnyRouter } from "@trpc/server"

const trpc = createTRPCClient<AnyRouter>({
  links: [switchyardLink({ url: "/switchyard", transports: [websocketTransport()] })],
})
console.log(trpc)
