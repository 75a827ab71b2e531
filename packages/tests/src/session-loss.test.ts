import { createClient } from "@switchyard/client-browser/all"
import { type Acceptor, FrameType, memoryTransport, type SwitchyardError } from "@switchyard/core"
import { TestContract, type TestServerState, waitFor } from "@switchyard/core/testing"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { connected, startTestServer, testClientOptions } from "./support/harnesses.ts"

/** A memory transport whose server can be swapped, as a restarted process would be. */
function restartableServer() {
  const state: TestServerState = { aborted: new Set() }
  let server = startTestServer({}, state)
  const accept: Acceptor = (link, info) => server.accept(link, info)
  const transport = memoryTransport(accept)
  return {
    transport,
    get server() {
      return server
    },
    /** A clean shutdown (clients get BYE) followed by a new server. */
    async restart() {
      await server.close()
      server = startTestServer({}, state)
    },
    /** A crash: connections cut, state gone, no BYE; then a new server. */
    crash() {
      transport.drop()
      const old = server
      server = startTestServer({}, state)
      void old.close()
    },
  }
}

describe("when the server loses the session", () => {
  const cleanup: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn()
  })

  const setup = async () => {
    const env = restartableServer()
    const client = createClient(TestContract, { url: "memory:", transports: [env.transport], ...testClientOptions })
    cleanup.push(async () => {
      await client.close()
      await env.server.close()
    })
    await connected(client)
    const sessions: Array<{ id: string; recovered: boolean }> = []
    client.on("session", (s) => sessions.push(s))
    const errors: SwitchyardError[] = []
    client.on("error", (e) => errors.push(e))
    return { env, client, sessions, errors }
  }

  it("after a clean restart (BYE): starts a new session, says so, re-subscribes", async () => {
    const { env, client, sessions, errors } = await setup()
    const firstId = client.sessionId
    const got: number[] = []
    client.topics.feed("k").subscribe((n) => got.push(n))
    await waitFor(() => env.server.topics.feed("k").subscribers === 1)
    const inFlight = client.rpc.hang({ tag: "lost" })

    await env.restart()
    // Its outcome is unknown (the server may have run it): SESSION_LOST, with the reason in the message.
    const rejected = (await inFlight.catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(rejected.code).toBe("SESSION_LOST")
    expect(rejected.message).toContain("shutting down")
    await waitFor(() => client.state === "connected" && client.sessionId !== firstId, 5000, "a new session")
    expect(sessions).toEqual([{ id: client.sessionId, recovered: false }])
    expect(errors.map((e) => e.code)).toContain("SERVER_CLOSED")
    await waitFor(() => env.server.topics.feed("k").subscribers === 1, 3000, "the re-subscription")
    env.server.topics.feed("k").publish(7)
    await waitFor(() => got.length === 1)
    expect(got).toEqual([7])
    expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)
  })

  it("after a crash: calls that reached the old server reject SESSION_LOST, calls that never left are sent again", async () => {
    const { env, client, sessions } = await setup()
    const firstId = client.sessionId
    const written = client.rpc.hang({ tag: "w" })
    await waitFor(() => env.server.sessionCount === 1)
    await new Promise((r) => setTimeout(r, 20))

    // Made the moment the client sees the drop: it never reached any server, so the new session may run it.
    const unsent = new Promise<number>((resolve, reject) => {
      const off = client.on("state", (state) => {
        if (state !== "reconnecting") return
        off()
        client.rpc.add({ a: 20, b: 22 }).then(resolve, reject)
      })
    })
    env.crash()

    expect(((await written.catch((e: SwitchyardError) => e)) as SwitchyardError).code).toBe("SESSION_LOST")
    expect(await unsent).toBe(42)
    expect(client.sessionId).not.toBe(firstId)
    expect(sessions).toEqual([{ id: client.sessionId, recovered: false }])
  })

  it("over WebSocket, server.close() tells connected clients before it cuts them", async () => {
    const state: TestServerState = { aborted: new Set() }
    const server = startTestServer({}, state)
    const { url } = await server.listen(0, "127.0.0.1")
    const client = createClient(TestContract, { url, WebSocket, ...testClientOptions })
    cleanup.push(() => client.close())
    await connected(client)
    const errors: string[] = []
    client.on("error", (e) => errors.push(e.code))
    await server.close()
    await waitFor(() => errors.includes("SERVER_CLOSED"), 3000, "the BYE to arrive")
  })

  it("over WebSocket, server.close() tells a client whose move to WebSocket is in its handshake", async () => {
    const state: TestServerState = { aborted: new Set() }
    const server = startTestServer({}, state)
    const { url } = await server.listen(0, "127.0.0.1")
    // The session starts on long polling and moves to WebSocket once a probe passes. The server closes the
    // moment the client says HELLO there: the client has left its old link (a BYE there is ignored), and
    // the HELLO reaches the server only after its WebSocket transport has started closing the socket.
    let closing: Promise<void> | undefined
    class ClosesServerOnHello extends WebSocket {
      override send(data: string): void {
        super.send(data)
        if (data.startsWith(`[${FrameType.HELLO},`)) closing ??= server.close()
      }
    }
    const client = createClient(TestContract, { url, WebSocket: ClosesServerOnHello, ...testClientOptions })
    cleanup.push(() => client.close())
    const errors: string[] = []
    client.on("error", (e) => errors.push(e.code))
    await waitFor(() => closing !== undefined, 5000, "the client's HELLO on WebSocket")
    await closing
    await waitFor(() => errors.includes("SERVER_CLOSED"), 3000, "the BYE to arrive")
  })
})
