import {
  type CompiledContract,
  type CompiledPeer,
  clientBody,
  type IceServer,
  isErrorCode,
  type PeerConnection,
  type PeerConnectionEvents,
  type PeerMap,
  type PeerPath,
  type SwitchyardError,
  switchyardError,
} from "@switchyard/core"
import { encodeInput } from "./encoding.ts"
import type { PeerHost } from "./options.ts"
import { type DirectPath, openDirect, type RtcPeerConnectionConstructor } from "./peerDirect.ts"
import { report } from "./report.ts"

/** How `client.peers` behaves; every field has a default in `options.ts`. */
export interface PeerSettings {
  /** Whether to try a direct data channel at all (the server may still forbid it). */
  readonly direct: boolean
  readonly RTCPeerConnection: RtcPeerConnectionConstructor | undefined
  /** A data channel not open by then is given up; the connection stays on the relay (ms). */
  readonly directTimeoutMs: number
  /** Messages one connection may have sent direct and not yet acknowledged, or received out of order. */
  readonly maxPending: number
}

/** Messages longer than this (characters) take the relay even when the direct path is open. */
const MAX_DIRECT_CHARS = 16 * 1024

/** What the server says of a connection when it opens: the other side, ICE servers, whether to go direct. */
export interface Setup {
  readonly peer: string
  readonly iceServers: readonly IceServer[]
  readonly direct: boolean
}

type Listener = (...args: never[]) => void

/** What a connection needs of `client.peers` (the `PeerManager`). */
export interface PeerOwner {
  readonly compiled: CompiledContract
  readonly settings: PeerSettings
  readonly host: PeerHost
  /** The connection closed: forget it. */
  forget(conn: number): void
}

/**
 * One connection to another client. Every message is numbered per direction (`n`, from 1); the receiver
 * delivers them in that order, once each, whichever path brought them. The relay is the session's, so
 * it loses nothing; a message sent direct is kept until the other side acknowledges it on the channel,
 * and when the channel closes, everything unacknowledged is sent again through the relay. So a switch
 * either way loses, repeats and reorders nothing (docs/peers.md#paths). Unreliable channels are apart from
 * this: numbered on their own, sent once on whichever path, delivered only when newer than the last.
 */
export class PeerConn {
  readonly api: PeerConnection<PeerMap>
  path: PeerPath = "relay"
  state: "open" | "closed" = "open"
  #nextOut = 1
  #expected = 1
  /** Numbers this side's messages of unreliable channels (docs/peers.md#unreliable-peer-channels). */
  #nextLatest = 1
  /** The newest unreliable message delivered, per channel: anything not newer is dropped. */
  readonly #newest = new Map<string, number>()
  /** Received ahead of `expected`: a message, or `null` for one the server refused (`skip`). */
  readonly #held = new Map<number, readonly [string, unknown] | null>()
  /** Sent direct, not yet acknowledged: the relay body to send it again with. */
  readonly #unacked = new Map<number, string>()
  readonly #subscribers = new Map<string, Set<(message: unknown) => void>>()
  /** Messages of channels nobody subscribed to yet (a connection's first messages can beat `await connect`). */
  readonly #unclaimed = new Map<string, unknown[]>()
  #unclaimedCount = 0
  readonly #listeners = new Map<keyof PeerConnectionEvents, Set<Listener>>()
  #direct: DirectPath | undefined
  #ackQueued = false
  readonly #manager: PeerOwner
  readonly #caller: boolean
  readonly #setup: Setup

  constructor(
    manager: PeerOwner,
    readonly id: number,
    readonly peerId: string,
    caller: boolean,
    setup: Setup,
  ) {
    this.#manager = manager
    this.#caller = caller
    this.#setup = setup
    const self = this
    const channels: Record<string, unknown> = Object.create(null)
    for (const [name, channel] of manager.compiled.peers) {
      channels[name] = {
        send: (message: unknown) => this.#send(channel, message),
        subscribe: (listener: (message: unknown) => void) => {
          const own = this.#subscribers.get(name) ?? new Set()
          this.#subscribers.set(name, own)
          own.add(listener)
          // What came before anyone listened goes to the first listener, now, ahead of anything newer.
          const kept = this.#unclaimed.get(name) ?? []
          this.#unclaimed.delete(name)
          this.#unclaimedCount -= kept.length
          for (const message of kept) this.#call(listener, message)
          return () => own.delete(listener)
        },
      }
    }
    this.api = {
      id,
      peerId,
      channels: channels as PeerConnection<PeerMap>["channels"],
      get path() {
        return self.path
      },
      get state() {
        return self.state
      },
      on: (event, listener) => {
        const own = this.#listeners.get(event) ?? new Set()
        this.#listeners.set(event, own)
        own.add(listener as Listener)
        return () => own.delete(listener as Listener)
      },
      close: () => {
        if (this.state === "closed") return
        this.#manager.host.send(clientBody.peer(id, "close", JSON.stringify("closed by the peer")))
        this.end(switchyardError("PEER_CLOSED", "this side closed the connection"))
      },
    }
    if (caller) this.#tryDirect()
  }

  /** A PEER frame about this connection from the server. */
  handle(op: string, data: unknown): void {
    switch (op) {
      case "relay": {
        const [n, name, message] = data as readonly [number, string, unknown]
        return this.#arrive(n, [name, message], false)
      }
      case "skip":
        return this.#arrive(data as number, null, false)
      case "latest": {
        const [n, name, message] = data as readonly [number, string, unknown]
        return this.#latest(n, name, message)
      }
      case "error": {
        const { code, message } = data as { code: string; message: string }
        return this.#emit("error", remoteError(code, message))
      }
      case "closed": {
        const { code, message } = data as { code: string; message: string }
        return this.end(remoteError(code, message))
      }
      case "offer":
        if (!this.#caller) this.#tryDirect()
        return this.#direct?.signal("offer", data)
      case "answer":
      case "candidate":
        return this.#direct?.signal(op, data)
    }
  }

  /** Closes without telling the server (it ended the connection, or the session is gone). */
  end(error: SwitchyardError): void {
    if (this.state === "closed") return
    this.state = "closed"
    this.#direct?.close()
    this.#direct = undefined
    this.#held.clear()
    this.#unacked.clear()
    this.#manager.forget(this.id)
    this.#emit("close", error)
  }

  #send(channel: CompiledPeer, message: unknown): void {
    if (this.state === "closed") throw switchyardError("PEER_CLOSED", "the peer connection is closed")
    const json = encodeInput(channel.message, message, channel.name)
    if (typeof json !== "string") throw json
    if (channel.delivery === "unreliable") return this.#sendLatest(channel, json)
    const n = this.#nextOut
    const relayed = `[${n},${JSON.stringify(channel.name)},${json}]`
    if (
      this.path === "direct" &&
      json.length <= MAX_DIRECT_CHARS &&
      this.#unacked.size < this.#manager.settings.maxPending &&
      this.#direct?.send(`["m",${relayed.slice(1)}`)
    ) {
      this.#unacked.set(n, relayed)
      this.#nextOut++
      return
    }
    const refused = this.#manager.host.send(clientBody.peer(this.id, "relay", relayed), json)
    if (refused) throw refused
    this.#nextOut++
  }

  /**
   * An unreliable message: on the lossy data channel when it is open (each message sent once, unordered),
   * else through the server, which drops it when the other side is not keeping up. Never kept, never
   * sent again: a message lost on either path is gone.
   */
  #sendLatest(channel: CompiledPeer, json: string): void {
    const item = `[${this.#nextLatest++},${JSON.stringify(channel.name)},${json}]`
    if (
      this.path === "direct" &&
      json.length <= MAX_DIRECT_CHARS &&
      this.#direct?.sendLossy(`["u",${item.slice(1)}`, channel)
    ) {
      return
    }
    // Not queued for a connection to come: it would be stale by then, and would fill the session's replay buffer.
    if (!this.#manager.host.connected) return
    const refused = this.#manager.host.send(clientBody.peer(this.id, "latest", item), json)
    if (refused) throw refused
  }

  /** Unreliable message `n` arrived, by either path: delivered only when newer than its channel's last. */
  #latest(n: number, name: string, message: unknown): void {
    if (this.state === "closed" || n <= (this.#newest.get(name) ?? 0)) return
    if (this.#manager.compiled.peers.get(name)?.delivery !== "unreliable") {
      // A reliable channel's messages must not skip the ordering: a peer sending them here is broken.
      return this.#emit("error", switchyardError("INVALID_FRAME", `peer channel ${name} is not unreliable`))
    }
    this.#newest.set(name, n)
    this.#deliver(name, message)
  }

  /** Message `n` arrived (or was skipped): delivered in order, once. */
  #arrive(n: number, item: readonly [string, unknown] | null, direct: boolean): void {
    if (this.state === "closed") return
    if (direct) this.#queueAck()
    if (n < this.#expected || this.#held.has(n)) return
    if (this.#held.size >= this.#manager.settings.maxPending) {
      this.#manager.host.send(clientBody.peer(this.id, "close", JSON.stringify("too many messages out of order")))
      return this.end(switchyardError("QUEUE_FULL", "too many peer messages arrived out of order"))
    }
    this.#held.set(n, item)
    while (this.#held.has(this.#expected) && this.state === "open") {
      const next = this.#held.get(this.#expected)
      this.#held.delete(this.#expected)
      this.#expected++
      if (next) this.#deliver(next[0], next[1])
    }
  }

  #deliver(name: string, raw: unknown): void {
    const channel = this.#manager.compiled.peers.get(name)
    if (!channel) return this.#emit("error", switchyardError("UNKNOWN_CHANNEL", `no such peer channel: ${name}`))
    const decoded = channel.message.decode(raw)
    if (!decoded.ok) {
      return this.#emit(
        "error",
        switchyardError("INVALID_OUTPUT", `peer channel ${name}: invalid message: ${decoded.error}`),
      )
    }
    const listeners = this.#subscribers.get(name)
    if (listeners === undefined) {
      // Of an unreliable channel, only the newest is worth keeping for the first subscriber.
      if (channel.delivery === "unreliable") this.#unclaimedCount -= this.#unclaimed.get(name)?.splice(0).length ?? 0
      if (this.#unclaimedCount >= this.#manager.settings.maxPending) {
        return this.#emit(
          "error",
          switchyardError("QUEUE_FULL", `peer channel ${name}: a message nobody listens to was dropped`),
        )
      }
      const kept = this.#unclaimed.get(name) ?? []
      kept.push(decoded.value)
      this.#unclaimed.set(name, kept)
      this.#unclaimedCount++
      return
    }
    for (const listener of [...listeners]) this.#call(listener, decoded.value)
  }

  #call(listener: (message: unknown) => void, message: unknown): void {
    try {
      listener(message)
    } catch (error) {
      report(error)
    }
  }

  /** One acknowledgement per burst of direct messages: everything delivered so far. */
  #queueAck(): void {
    if (this.#ackQueued) return
    this.#ackQueued = true
    queueMicrotask(() => {
      this.#ackQueued = false
      this.#direct?.send(`["a",${this.#expected - 1}]`)
    })
  }

  #tryDirect(): void {
    const { settings } = this.#manager
    const Peer = settings.RTCPeerConnection
    if (this.#direct || this.state === "closed" || !settings.direct || !this.#setup.direct || !Peer) return
    let direct: DirectPath | undefined
    try {
      direct = openDirect(
        Peer,
        this.#caller,
        this.#setup.iceServers,
        settings.directTimeoutMs,
        (kind, data) => {
          if (this.#direct === direct) this.#manager.host.send(clientBody.peer(this.id, kind, JSON.stringify(data)))
        },
        {
          open: () => {
            if (this.#direct !== direct || this.path === "direct") return
            this.path = "direct"
            this.#emit("path", "direct")
          },
          message: (text) => this.#directMessage(text),
          close: () => {
            if (this.#direct === direct) this.#directClosed()
          },
        },
        [...this.#manager.compiled.peers.values()].some((c) => c.delivery === "unreliable"),
      )
    } catch (error) {
      // No usable RTCPeerConnection: the relay carries everything.
      report(error)
      return
    }
    this.#direct = direct
  }

  #directMessage(text: string): void {
    const value = parseJson(text)
    if (Array.isArray(value) && value[0] === "a" && isCount(value[1])) {
      for (const n of this.#unacked.keys()) {
        if (n > value[1]) break
        this.#unacked.delete(n)
      }
      return
    }
    // `["m", n, channel, message]` on the reliable channel, `["u", n, channel, message]` (unreliable) on the lossy one.
    const [tag, n, name, message] = Array.isArray(value) && value.length === 4 ? value : []
    if ((tag === "m" || tag === "u") && isCount(n) && n > 0 && typeof name === "string") {
      return tag === "m" ? this.#arrive(n, [name, message], true) : this.#latest(n, name, message)
    }
    this.#emit("error", switchyardError("INVALID_FRAME", "the peer sent a malformed message on the data channel"))
  }

  /** The direct path is gone: back to the relay, sending again what the other side has not confirmed. */
  #directClosed(): void {
    this.#direct = undefined
    if (this.state === "closed") return
    const resend = [...this.#unacked.values()]
    this.#unacked.clear()
    for (const relayed of resend) {
      const refused = this.#manager.host.send(clientBody.peer(this.id, "relay", relayed))
      if (refused) {
        return this.end(switchyardError("QUEUE_FULL", "the direct path closed and its messages do not fit the relay"))
      }
    }
    if (this.path === "relay") return
    this.path = "relay"
    this.#emit("path", "relay")
  }

  #emit<K extends keyof PeerConnectionEvents>(event: K, ...args: Parameters<PeerConnectionEvents[K]>): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        ;(listener as unknown as (...a: Parameters<PeerConnectionEvents[K]>) => void)(...args)
      } catch (error) {
        report(error)
      }
    }
  }
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0

export function remoteError(code: string, message: string): SwitchyardError {
  return switchyardError(isErrorCode(code) ? code : "PEER_CLOSED", message)
}
