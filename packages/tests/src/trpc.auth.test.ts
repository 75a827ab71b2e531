// Credentials for tRPC over Switchyard (issue 13 item 3): the `auth` option is asked before every
// connection, `authenticate` runs on each, and createContext sees the token of the connection that last
// resumed the session; a token the server refuses is reported as AUTH_REFUSED and the calls wait.

import { websocketTransport } from "@switchyard/client-browser"
import type { SwitchyardError } from "@switchyard/core"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTrpcServer } from "@switchyard/trpc/server"
import { createTRPCClient } from "@trpc/client"
import { initTRPC } from "@trpc/server"
import { describe, expect, it, vi } from "vitest"
import WebSocket from "ws"
import { fastReconnect } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

const t = initTRPC.context<{ user: string }>().create()
const router = t.router({ whoami: t.procedure.query(({ ctx }) => ctx.user) })

describe("tRPC over Switchyard: credentials on every connection", () => {
  it("gives createContext the token of each resume, on the same session, and reports a refused one", async () => {
    const revoked = new Set<string>()
    const server = createTrpcServer(router, {
      authenticate: (request) => {
        const token = new URL(request.url ?? "/", "http://x").searchParams.get("token") ?? ""
        if (revoked.has(token)) throw new Error("revoked")
        return token
      },
      createContext: ({ auth }) => ({ user: auth }),
      onError: () => {},
    })
    const { port } = await server.listen(0, "127.0.0.1")
    await using proxy = await TcpProxy.start(port)
    let issued = 0
    const link = switchyardLink<typeof router>({
      url: `http://127.0.0.1:${proxy.port}/switchyard`,
      transports: [websocketTransport({ WebSocket: WebSocket as never })],
      reconnect: fastReconnect,
      auth: () => ({ params: { token: `token-${++issued}` } }),
    })
    const sessions: string[] = []
    const errors: SwitchyardError[] = []
    link.client.on("session", ({ id, recovered }) => sessions.push(`${id} ${recovered}`))
    link.client.on("error", (error) => errors.push(error))
    const trpc = createTRPCClient<typeof router>({ links: [link] })
    try {
      expect(await trpc.whoami.query()).toBe("token-1")
      proxy.drop()
      await vi.waitFor(() => expect(sessions).toHaveLength(2))
      expect(await trpc.whoami.query()).toBe("token-2")
      const id = link.client.sessionId
      expect(sessions).toEqual([`${id} false`, `${id} true`])

      // The next tokens are refused: the client reports it and keeps asking; the call waits for a good one.
      revoked.add("token-3")
      revoked.add("token-4")
      proxy.drop()
      const pending = trpc.whoami.query()
      await vi.waitFor(() => expect(errors.filter((e) => e.code === "AUTH_REFUSED").length).toBeGreaterThanOrEqual(2))
      expect(await pending).toBe("token-5")
      expect(link.client.sessionId).toBe(id)
    } finally {
      await link.client.close()
      await server.close()
    }
  })
})
