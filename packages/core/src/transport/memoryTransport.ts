import { latestPerTick } from "./latest.ts"
import type { Acceptor, ClientLinkEvents, ClientTransport, Link } from "./types.ts"

/** Test controls of the in-memory transport. */
export interface MemoryTransport extends ClientTransport {
  /** Cuts every open link at once, as a network failure would (close code 1006 on both ends); returns how many. */
  drop(): number
  /** While true, frames in both directions vanish and nothing is closed: a black-holing network. */
  stall(on: boolean): void
  /** Links open now. */
  readonly openLinks: number
}

/**
 * An in-process transport pair: the client half connects straight to a server's `Acceptor`. Frames are
 * delivered asynchronously and in order, as over a socket. For fast tests and for the contract suite.
 *
 * @example
 * ```ts
 * import { createClient } from "@switchyard/client-browser"
 * import { memoryTransport } from "@switchyard/core"
 *
 * const transport = memoryTransport(server.accept)
 * const client = createClient(Chat, { url: "memory:", transports: [transport] })
 * ```
 */
export function memoryTransport(accept: Acceptor): MemoryTransport {
  const open = new Set<() => void>()
  let stalled = false

  /** One direction of a link: frames queue and flush in a microtask, in order. */
  const pipe = (deliver: (frame: string) => void) => {
    let queue: string[] = []
    const flush = () => {
      const batch = queue
      queue = []
      for (const frame of batch) deliver(frame)
    }
    return (frame: string) => {
      if (stalled) return
      if (queue.push(frame) === 1) queueMicrotask(flush)
    }
  }

  return {
    id: "memory",
    get openLinks() {
      return open.size
    },
    drop() {
      const links = [...open]
      for (const cut of links) cut()
      return links.length
    },
    stall(on) {
      stalled = on
    },
    connect(_url: string, events: ClientLinkEvents): Link {
      // `closed`: no more frames accepted. `severed`: a cut network; frames in flight are lost too. A
      // graceful close delivers what was sent before it, as a WebSocket close does.
      let closed = false
      let severed = false
      let serverEvents: ReturnType<Acceptor> | undefined
      const toServer = pipe((frame) => !severed && serverEvents?.frame(frame))
      const toClient = pipe((frame) => !severed && events.frame(frame))
      const end = (code: number, reason: string, sever = false) => {
        if (closed) return
        closed = true
        severed = sever
        open.delete(cut)
        queueMicrotask(() => {
          serverEvents?.close(code, reason)
          events.close(code, reason)
        })
      }
      const cut = () => end(1006, "connection lost", true)
      open.add(cut)
      // Unreliable frames of one microtask are conflated per slot; the pipe has no buffer to fill.
      const latest = latestPerTick({
        write: (frame) => !closed && toClient(frame),
        congested: () => false,
        defer: queueMicrotask,
      })
      const serverLink: Link = {
        send: (frame) => !closed && toClient(frame),
        sendLatest: (slot, frame) => !closed && latest.send(slot, frame),
        close: (code, reason) => end(code, reason),
      }
      queueMicrotask(() => {
        if (closed) return
        serverEvents = accept(serverLink, { transport: "memory", remoteAddress: "memory", auth: undefined })
        events.open()
      })
      return { send: (frame) => !closed && toServer(frame), close: (code, reason) => end(code, reason) }
    },
  }
}
