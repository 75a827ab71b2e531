import {
  type CompiledContract,
  clientBody,
  isServerPeerData,
  type PeerConnection,
  type PeerMap,
  type Peers,
  type SwitchyardError,
  switchyardError,
} from "@switchyard/core"
import { defaultPeerSettings, type PeerHost, type PeerModule, type PeersFeature } from "./options.ts"
import { PeerConn, type PeerOwner, type PeerSettings, remoteError, type Setup } from "./peerConnection.ts"
import type { RtcPeerConnectionConstructor } from "./peerDirect.ts"
import { report } from "./report.ts"

export type { PeerDataChannelLike, RtcPeerConnectionConstructor, RtcPeerConnectionLike } from "./peerDirect.ts"

/** Options of `peers()`; all optional. */
export interface PeerClientOptions {
  /** Try a direct data channel to each peer (default true); false keeps every connection on the relay. */
  readonly direct?: boolean
  /**
   * RTCPeerConnection for direct channels; defaults to `globalThis.RTCPeerConnection` (in Node, pass
   * `node-datachannel/polyfill`'s). Without one, peer connections use the server relay.
   */
  readonly RTCPeerConnection?: RtcPeerConnectionConstructor
  /** A data channel not open by then is given up and the connection stays on the relay (ms). Default 15 000. */
  readonly directTimeoutMs?: number
  /**
   * Messages one connection may have sent direct without acknowledgement (past it, messages take the
   * relay), hold ahead of a missing one (past it, the connection closes with `QUEUE_FULL`), and keep for
   * a channel's first subscriber (past it, they are dropped with a `QUEUE_FULL` error event). Default 1 024.
   */
  readonly maxPending?: number
}

/**
 * Client↔client connections for `createClient` (docs/peers.md): `client.peers.connect(peerId)` and
 * `client.peers.onConnection(cb)`, direct over a WebRTC data channel when one can be made, relayed by
 * the server otherwise. A client made without it ships none of this code.
 *
 * @example
 * ```ts
 * import { createClient, websocketTransport } from "@switchyard/client-browser"
 * import { peers } from "@switchyard/client-browser/peers"
 *
 * const client = createClient(Chat, { url, transports: [websocketTransport()], peers: peers() })
 * const conn = await client.peers.connect("their-peer-id") // the other client's `client.peers.id`
 * ```
 */
export function peers(options: PeerClientOptions = {}): PeersFeature {
  return (host) =>
    new PeerManager(
      {
        direct: options.direct ?? defaultPeerSettings.direct,
        RTCPeerConnection:
          options.RTCPeerConnection ??
          (globalThis as { RTCPeerConnection?: RtcPeerConnectionConstructor }).RTCPeerConnection,
        directTimeoutMs: options.directTimeoutMs ?? defaultPeerSettings.directTimeoutMs,
        maxPending: options.maxPending ?? defaultPeerSettings.maxPending,
      },
      host,
    )
}

/** `client.peers`: the peer id, connects, incoming connections, and every open connection. */
export class PeerManager implements PeerOwner, PeerModule {
  id: string | undefined
  readonly api: Peers<PeerMap>
  readonly #connections = new Map<number, PeerConn>()
  readonly #connecting = new Map<
    number,
    { readonly resolve: (c: PeerConnection<PeerMap>) => void; readonly reject: (e: SwitchyardError) => void }
  >()
  readonly #incoming = new Set<(connection: PeerConnection<PeerMap>) => void>()
  #nextRef = 1
  readonly accepts = isServerPeerData

  constructor(
    readonly settings: PeerSettings,
    readonly host: PeerHost,
  ) {
    const self = this
    this.api = {
      get id() {
        return self.id
      },
      connect: (peerId) => this.#connect(peerId),
      onConnection: (listener) => {
        this.#incoming.add(listener)
        return () => this.#incoming.delete(listener)
      },
    }
  }

  get compiled(): CompiledContract {
    return this.host.compiled
  }

  /** A PEER frame from the server. */
  receive(conn: number, op: string, data: unknown): void {
    switch (op) {
      case "open": {
        const setup = data as Setup & { readonly ref?: unknown }
        const waiting = typeof setup.ref === "number" ? this.#connecting.get(setup.ref) : undefined
        if (!waiting) return void this.host.send(clientBody.peer(conn, "close", JSON.stringify("nobody is waiting")))
        this.#connecting.delete(setup.ref as number)
        const connection = new PeerConn(this, conn, setup.peer, true, setup)
        this.#connections.set(conn, connection)
        return waiting.resolve(connection.api)
      }
      case "refused": {
        const waiting = this.#connecting.get(conn)
        if (!waiting) return
        this.#connecting.delete(conn)
        const { code, message } = data as { code: string; message: string }
        return waiting.reject(remoteError(code, message))
      }
      case "incoming": {
        const setup = data as Setup
        if (this.#incoming.size === 0) {
          return void this.host.send(clientBody.peer(conn, "reject", JSON.stringify("no listener for connections")))
        }
        this.host.send(clientBody.peer(conn, "accept", "null"))
        const connection = new PeerConn(this, conn, setup.peer, false, setup)
        this.#connections.set(conn, connection)
        for (const listener of [...this.#incoming]) {
          try {
            listener(connection.api)
          } catch (error) {
            report(error)
          }
        }
        return
      }
      default:
        return this.#connections.get(conn)?.handle(op, data)
    }
  }

  forget(conn: number): void {
    this.#connections.delete(conn)
  }

  /** The session ended (lost, or the client closed): every connection and connect ends with `error`. */
  endAll(error: SwitchyardError): void {
    for (const waiting of this.#connecting.values()) waiting.reject(error)
    this.#connecting.clear()
    for (const connection of [...this.#connections.values()]) connection.end(error)
  }

  #connect(peerId: string): Promise<PeerConnection<PeerMap>> {
    if (typeof peerId !== "string" || peerId.length === 0) {
      return Promise.reject(switchyardError("INVALID_INPUT", "connect takes a peer id"))
    }
    const ref = this.#nextRef++
    const refused = this.host.send(clientBody.peer(ref, "connect", JSON.stringify(peerId)))
    if (refused) return Promise.reject(refused)
    return new Promise((resolve, reject) => this.#connecting.set(ref, { resolve, reject }))
  }
}
