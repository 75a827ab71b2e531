// @trpc/client with wsLink only: what a tRPC app on WebSockets ships, beside trpc-link.ts.
import { createTRPCClient, createWSClient, wsLink } from "@trpc/client"
import type { AnyRouter } from "@trpc/server"

const trpc = createTRPCClient<AnyRouter>({ links: [wsLink({ client: createWSClient({ url: "/trpc" }) })] })
console.log(trpc)
