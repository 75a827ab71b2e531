import { createClient } from "@switchyard/client-browser/all"
import {
  type Client,
  clientControl,
  control,
  FrameType,
  type SwitchyardError,
  type TopicRecovery,
} from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { type Broker, createServer, type Handlers, type Server, type ServerLimits } from "@switchyard/server-node"
import WebSocket from "ws"
import { testClientOptions } from "./harnesses.ts"

/**
 * Several servers of one cluster in this process, each on its own loopback port with its own broker,
 * and clients of them: for the tests of topics across nodes (on `memoryCluster()` and on Redis).
 */

export interface TopicNode {
  readonly server: Server<TestContract>
  /** `http://127.0.0.1:<port>/switchyard`. */
  readonly url: string
}

/** Starts one server with `broker` on a free loopback port; `cleanup` gets what closes it. */
export async function startNode(
  broker: Broker,
  cleanup: Array<() => unknown>,
  limits: Partial<ServerLimits> = {},
): Promise<TopicNode> {
  const state: TestServerState = { aborted: new Set() }
  const handlers = testHandlers(state) as unknown as Handlers<TestContract>
  // Clients may publish to `feed`, so that a client's PUBLISH crosses nodes too.
  const topics = { ...handlers.topics, feed: { canPublish: () => true } }
  const server = createServer(TestContract, { ...handlers, topics }, { broker, limits, onError: () => {} })
  cleanup.push(() => server.close())
  const { url } = await server.listen(0, "127.0.0.1")
  return { server, url }
}

/** A Node client over WebSocket following `feed(key)`: every message, recovery and error it sees. */
export function follow(node: TopicNode, key: string, cleanup: Array<() => unknown>) {
  const client: Client<TestContract> = createClient(TestContract, {
    url: node.url,
    transports: ["websocket"],
    WebSocket,
    ...testClientOptions,
  })
  cleanup.push(() => client.close())
  const got: number[] = []
  const recoveries: TopicRecovery[] = []
  const errors: SwitchyardError[] = []
  client.on("error", (error) => errors.push(error))
  client.topics.feed(key).subscribe((n) => got.push(n), { onRecover: (info) => recoveries.push(info) })
  return { client, got, recoveries, errors }
}

/** Publishes 1…n, or from…to, on `feed(key)` of `node`, awaiting each. */
export async function publishRange(node: TopicNode, key: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await node.server.topics.feed(key).publish(n)
}

/**
 * Waits until every follower's subscription is confirmed: on a remote broker a subscription starts when
 * the broker answers, so the node publishes 0 until each follower has one (then forgets them).
 */
export async function confirmed(node: TopicNode, key: string, followers: ReadonlyArray<{ got: number[] }>) {
  await waitFor(
    () => {
      void node.server.topics.feed(key).publish(0)
      return followers.every((f) => f.got.includes(0))
    },
    5000,
    "the subscriptions' confirmation",
  )
  // Let the last probes arrive, then forget them.
  await node.server.topics.feed(key).publish(-1)
  await waitFor(() => followers.every((f) => f.got.includes(-1)), 5000, "the last probe")
  for (const f of followers) f.got.splice(0)
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** A hand-written protocol speaker over WebSocket, to subscribe from a chosen position on a chosen node. */
export class RawPeer {
  readonly frames: unknown[][] = []
  private seq = 1
  private id = 1

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as unknown[]
      this.frames.push(frame)
      if (typeof frame[0] === "number" && frame[0] >= 1 && frame[0] <= 12) ws.send(control.ack(frame[1] as number))
    })
    ws.on("error", () => {})
  }

  static async open(url: string, cleanup: Array<() => unknown>): Promise<RawPeer> {
    const ws = new WebSocket(url.replace("http:", "ws:"))
    const peer = new RawPeer(ws)
    // It leaves as a client does (BYE, then close), so that its session ends at once: a connection merely
    // cut would leave a session for the closing node to hand over, which it waits handOverGraceMs for.
    cleanup.push(async () => {
      if (ws.readyState === WebSocket.OPEN) {
        const closed = new Promise((resolve) => ws.once("close", resolve))
        ws.send(clientControl.bye("CLIENT_CLOSED", "the test is done"))
        ws.close(1000)
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))])
      }
      ws.terminate()
    })
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("error", reject)
    })
    ws.send(control.hello(1, null, 0))
    await waitFor(() => peer.frames.some((f) => f[0] === FrameType.WELCOME), 3000, "WELCOME")
    return peer
  }

  /** Subscribes to `feed(key)` from `since`; the RESULT's output (`[offset, epoch, recovered]`). */
  async subscribe(
    key: string,
    since: readonly [number, string] | null,
    then?: () => void,
  ): Promise<[number, string, boolean]> {
    const id = this.id++
    this.ws.send(`[${FrameType.SUBSCRIBE},${this.seq++},${id},"feed",${JSON.stringify(key)},${JSON.stringify(since)}]`)
    then?.()
    const isReply = (f: unknown[]) => (f[0] === FrameType.RESULT || f[0] === FrameType.ERROR) && f[2] === id
    await waitFor(() => this.frames.some(isReply), 5000, `the reply to SUBSCRIBE ${id}`)
    const reply = this.frames.find(isReply) as unknown[]
    if (reply[0] !== FrameType.RESULT) throw new Error(`SUBSCRIBE refused: ${JSON.stringify(reply)}`)
    return reply[3] as [number, string, boolean]
  }

  /** Sends UNSUBSCRIBE for `feed(key)` (never answered). */
  unsubscribe(key: string): void {
    this.ws.send(`[${FrameType.UNSUBSCRIBE},${this.seq++},"feed",${JSON.stringify(key)}]`)
  }

  /** The MESSAGE frames of `feed(key)` so far: `[message, offset, epoch?]`. */
  messages(key: string): Array<[number, number, string?]> {
    return this.frames
      .filter((f) => f[0] === FrameType.MESSAGE && f[3] === key)
      .map((f) => (f.length > 6 ? [f[4], f[5], f[6]] : [f[4], f[5]]) as [number, number, string?])
  }
}
