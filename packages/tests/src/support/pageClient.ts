/**
 * The browser-side entry of the Chromium harness, bundled by chromium.ts: the real client, created with
 * the page's native WebSocket, behind a small driver on `globalThis.switchyard` that remoteClient.ts
 * calls through `page.evaluate`. Everything the client reports on its own (events, topic messages) is
 * pushed to Node through the exposed `pushBinding`, batched per microtask and numbered.
 */
import { createClient } from "@switchyard/client-browser/all"
import { peers } from "@switchyard/client-browser/peers"
import type {
  Client,
  PeerConnection,
  PresenceMember,
  PresenceTopicHandle,
  SwitchyardError,
  TopicHandle,
} from "@switchyard/core"
import { TestContract } from "@switchyard/core/testing"
import { webrtcTransport } from "@switchyard/webrtc-data"
import {
  errorToWire,
  fromWire,
  type Outcome,
  type PageDriver,
  type PeerInfoWire,
  type Push,
  pushBinding,
  type SignalState,
  type Snapshot,
  toWire,
  type Wire,
} from "./remoteClient.ts"

interface LooseClient {
  readonly rpc: Record<string, (input: unknown, options?: { signal: AbortSignal }) => Promise<unknown>>
  readonly streams: Record<
    string,
    (input: unknown, options?: { window?: number; signal?: AbortSignal }) => AsyncIterable<unknown>
  >
  readonly topics: Record<string, (key: string) => TopicHandle<unknown>>
}

const clients = new Map<number, Client<TestContract>>()
const calls = new Map<number, AbortController>()
const streams = new Map<
  number,
  { readonly iterator: AsyncIterator<unknown>; readonly abort: AbortController | undefined }
>()
const subscriptions = new Map<number, () => void>()
// An abort or an unsubscribe from Node may overtake the call it is about (they are separate evaluates).
// Streams need no such care: Node waits for `open` before anything else about a stream.
const earlyAborts = new Set<number>()
type Conn = PeerConnection<TestContract["peers"]>
/** Peer connections by handle: Node's for those this page opened, negative ones for incoming. */
const peerConns = new Map<number, Conn>()
const peerListening = new Map<number, () => void>()
let incomingHandles = 0

/** Registers a connection under `handle`, pushing its events to Node. */
function track(handle: number, conn: Conn): PeerInfoWire {
  peerConns.set(handle, conn)
  conn.on("path", (path) => push({ kind: "peerEvent", conn: handle, event: "path", args: toWire(path) }))
  conn.on("error", (error) =>
    push({ kind: "peerEvent", conn: handle, event: "error", args: toWire(errorToWire(error)) }),
  )
  conn.on("close", (error) =>
    push({ kind: "peerEvent", conn: handle, event: "close", args: toWire(errorToWire(error)) }),
  )
  return { id: conn.id, peerId: conn.peerId, path: conn.path }
}
const earlyUnsubscribes = new Set<number>()

let version = 0
function snapshot(id: number): Snapshot {
  const client = clientOf(id)
  return {
    n: ++version,
    state: client.state,
    transport: client.transport ?? null,
    sessionId: client.sessionId ?? null,
    peerId: client.peers.id ?? null,
  }
}

function clientOf(id: number): Client<TestContract> {
  const client = clients.get(id)
  if (!client) throw new Error(`no client ${id} in this page`)
  return client
}

const loose = (id: number) => clientOf(id) as unknown as LooseClient

let queue: Push[] = []
let sent = 0
function push(message: Push): void {
  if (queue.length === 0) queueMicrotask(flush)
  queue.push(message)
}
function flush(): void {
  const batch = queue
  queue = []
  const binding = (globalThis as unknown as Record<string, (seq: number, batch: Push[]) => Promise<void>>)[pushBinding]
  // A failure is Node's to report (it records its own defects); the page has nobody to tell.
  void binding?.(++sent, batch).catch(() => {})
}

function controller(signal: SignalState, early: boolean): AbortController | undefined {
  if (signal === "none") return undefined
  const c = new AbortController()
  if (signal === "aborted" || early) c.abort()
  return c
}

async function outcome(client: number, run: () => Promise<{ value: unknown; done?: boolean }>): Promise<Outcome> {
  try {
    const { value, done = false } = await run()
    return { ok: true, value: toWire(value), done, snap: snapshot(client) }
  } catch (error) {
    return { ok: false, error: errorToWire(error), snap: snapshot(client) }
  }
}

const driver: PageDriver = {
  create(id, url, options) {
    // The page's own WebSocket and RTCPeerConnection: no constructor is passed, so the client takes
    // globalThis's. "webrtc" names the data-channel transport, which is a plug-in.
    const { webrtc, peers: peerOptions, ...rest } = options
    const transports = options.transports?.map((id) => (id === "webrtc" ? webrtcTransport(webrtc) : id))
    const client = createClient(TestContract, {
      url,
      ...rest,
      peers: peers(peerOptions),
      ...(transports ? { transports } : {}),
    })
    clients.set(id, client)
    client.on("state", (state) =>
      push({ kind: "event", client: id, snap: snapshot(id), event: "state", args: toWire([state]) }),
    )
    client.on("transport", (name, reason) =>
      push({ kind: "event", client: id, snap: snapshot(id), event: "transport", args: toWire([name, reason]) }),
    )
    client.on("session", (info) =>
      push({ kind: "event", client: id, snap: snapshot(id), event: "session", args: toWire([info]) }),
    )
    client.on("error", (error) => push({ kind: "error", client: id, snap: snapshot(id), error: errorToWire(error) }))
    return snapshot(id)
  },

  async call(id, callId, name, input, signal) {
    const abort = controller(signal, earlyAborts.delete(callId))
    if (abort) calls.set(callId, abort)
    try {
      return await outcome(id, async () => {
        const rpc = loose(id).rpc[name]
        if (!rpc) throw new Error(`no rpc ${name}`)
        return { value: await rpc(fromWire(input), abort && { signal: abort.signal }) }
      })
    } finally {
      calls.delete(callId)
    }
  },

  abort(callId) {
    const abort = calls.get(callId)
    if (abort) abort.abort()
    else earlyAborts.add(callId)
  },

  open(id, streamId, name, input, window, signal) {
    const abort = controller(signal, false)
    const options = { ...(window === null ? {} : { window }), ...(abort ? { signal: abort.signal } : {}) }
    const iterable = loose(id).streams[name]?.(fromWire(input), options)
    if (!iterable) throw new Error(`no stream ${name}`)
    streams.set(streamId, { iterator: iterable[Symbol.asyncIterator](), abort })
  },

  async next(id, streamId) {
    const stream = streams.get(streamId)
    // Streams are forgotten once finished, and a finished iterator keeps answering "done".
    if (!stream) return outcome(id, async () => ({ value: undefined, done: true }))
    const result = await outcome(id, async () => {
      const { done, value } = await stream.iterator.next()
      return { value, done: done === true }
    })
    if (!result.ok || result.done) streams.delete(streamId)
    return result
  },

  async cancel(streamId) {
    const stream = streams.get(streamId)
    streams.delete(streamId)
    await stream?.iterator.return?.()
  },

  abortStream(streamId) {
    streams.get(streamId)?.abort?.abort()
  },

  async subscribe(id, subId, topic, key, presence) {
    if (earlyUnsubscribes.delete(subId)) return outcome(id, async () => ({ value: undefined }))
    const handle = loose(id).topics[topic]?.(key) as PresenceTopicHandle<unknown, unknown> | undefined
    if (!handle) throw new Error(`no topic ${topic}`)
    const told = (event: "join" | "leave") => (member: PresenceMember<unknown>) =>
      push({ kind: "presence", sub: subId, event, member: toWire(member) })
    const off = handle.subscribe((message) => push({ kind: "message", sub: subId, value: toWire(message) }), {
      onError: (error: SwitchyardError) => push({ kind: "refused", sub: subId, error: errorToWire(error) }),
      ...(presence && { presence: { join: told("join"), leave: told("leave") } }),
    })
    subscriptions.set(subId, off)
    return outcome(id, async () => ({ value: await off.ready }))
  },

  unsubscribe(subId) {
    const off = subscriptions.get(subId)
    if (!off) return void earlyUnsubscribes.add(subId)
    subscriptions.delete(subId)
    off()
  },

  publish(id, topic, key, message: Wire) {
    return outcome(id, async () => {
      const handle = loose(id).topics[topic]?.(key)
      if (!handle) throw new Error(`no topic ${topic}`)
      return { value: await handle.publish(fromWire(message)) }
    })
  },

  presence(id, topic, key) {
    return outcome(id, async () => {
      const handle = loose(id).topics[topic]?.(key) as PresenceTopicHandle<unknown, unknown> | undefined
      if (!handle) throw new Error(`no topic ${topic}`)
      return { value: await handle.presence() }
    })
  },

  async close(id) {
    await clientOf(id).close()
    return snapshot(id)
  },

  reauthenticate(id, credentials) {
    return outcome(id, async () => ({ value: await clientOf(id).reauthenticate(credentials ?? undefined) }))
  },

  async peerConnect(id, handle, peerId) {
    try {
      return { ok: true, info: track(handle, await clientOf(id).peers.connect(peerId)) }
    } catch (error) {
      return { ok: false, error: errorToWire(error) }
    }
  },

  peerListen(id, on) {
    peerListening.get(id)?.()
    peerListening.delete(id)
    if (!on) return
    const off = clientOf(id).peers.onConnection((conn) => {
      const handle = --incomingHandles
      push({ kind: "peer", client: id, conn: handle, info: track(handle, conn) })
    })
    peerListening.set(id, off)
  },

  peerSend(handle, channel, message) {
    try {
      const send = (peerConns.get(handle)?.channels as Record<string, { send(m: unknown): void }> | undefined)?.[
        channel
      ]
      if (!send) throw new Error(`no peer connection ${handle} or channel ${channel}`)
      send.send(fromWire(message))
      return null
    } catch (error) {
      return errorToWire(error)
    }
  },

  peerSubscribe(handle, sub, channel) {
    const target = (
      peerConns.get(handle)?.channels as Record<string, { subscribe(l: (m: unknown) => void): () => void }> | undefined
    )?.[channel]
    if (!target) throw new Error(`no peer connection ${handle} or channel ${channel}`)
    target.subscribe((message) => push({ kind: "message", sub, value: toWire(message) }))
  },

  peerClose(handle) {
    peerConns.get(handle)?.close()
  },
}

;(globalThis as unknown as { switchyard: PageDriver }).switchyard = driver
