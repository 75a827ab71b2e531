// A tRPC router and a Switchyard contract served by one server and called over one session: the app's
// contract with the tRPC channels added (withTrpc), its handlers merged with trpcHandlers', one client
// for both (client.rpc for the contract, switchyardLink({ client }) for the router).
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { contract, rpc, type StandardSchemaV1, stream } from "@switchyard/core"
import { createServer } from "@switchyard/server-node"
import { switchyardLink, withTrpc } from "@switchyard/trpc/client"
import { trpcHandlers } from "@switchyard/trpc/server"
import { createTRPCClient } from "@trpc/client"
import { initTRPC } from "@trpc/server"
import { describe, expect, it } from "vitest"
import WebSocket from "ws"
import { z } from "zod"

const pair: StandardSchemaV1<{ a: number; b: number }> = z.object({ a: z.number(), b: z.number() })
const Chat = contract({
  rpc: { add: rpc({ input: pair, output: z.number() }) },
  streams: { countdown: stream({ input: z.number(), item: z.number() }) },
})

const t = initTRPC.context<{ user: string }>().create()
const router = t.router({
  whoami: t.procedure.query(({ ctx }) => ctx.user),
  double: t.procedure.input(z.number()).mutation(({ input }) => input * 2),
})

describe("a tRPC router beside a Switchyard contract", () => {
  it("is served by one server and called over one session", async () => {
    // The auth type is given: trpcHandlers does not see the server's authenticate.
    const trpc = trpcHandlers<typeof router, string>(router, { createContext: ({ auth }) => ({ user: auth }) })
    const server = createServer(
      withTrpc(Chat),
      {
        rpc: { add: ({ a, b }) => a + b, ...trpc.rpc },
        streams: {
          countdown: async function* (from) {
            for (let n = from; n >= 0; n--) yield n
          },
          ...trpc.streams,
        },
      },
      { authenticate: () => "ada", onError: () => {} },
    )
    const { url } = await server.listen(0, "127.0.0.1")
    const client = createClient(withTrpc(Chat), {
      url,
      transports: [websocketTransport({ WebSocket: WebSocket as never })],
    })
    const api = createTRPCClient<typeof router>({ links: [switchyardLink({ client })] })
    try {
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
      expect(await api.whoami.query()).toBe("ada")
      expect(await api.double.mutate(21)).toBe(42)
      const items: number[] = []
      for await (const n of client.streams.countdown(2)) items.push(n)
      expect(items).toEqual([2, 1, 0])
      expect(server.sessionCount).toBe(1)
    } finally {
      await client.close()
      await server.close()
    }
  })

  it("refuses a contract that already has a channel of tRPC's", () => {
    const taken = contract({ rpc: { "trpc.query": rpc({ input: z.number(), output: z.number() }) } })
    expect(() => withTrpc(taken)).toThrow(/"trpc.query" is a channel of tRPC's/)
  })
})
