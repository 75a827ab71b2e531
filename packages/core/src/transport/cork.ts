/** A socket that can hold writes back and send them together (Node's `net.Socket`). */
export interface Corkable {
  cork(): void
  uncork(): void
}

/**
 * Batches the writes of one tick into one system call, for the WebSocket transports of both sides. Call
 * the returned function before each write: the first write of a tick corks the socket and `defer`
 * schedules the uncork (`process.nextTick` on a server, `queueMicrotask` in a client); `afterFlush` runs
 * after each uncork. Where `socket()` gives nothing (a browser WebSocket), it does nothing.
 */
export function corkPerTick(
  socket: () => Corkable | undefined,
  defer: (flush: () => void) => void,
  afterFlush?: () => void,
): () => void {
  let corked: Corkable | undefined
  const flush = () => {
    const held = corked
    corked = undefined
    held?.uncork()
    afterFlush?.()
  }
  return () => {
    if (corked) return
    corked = socket()
    if (!corked) return
    corked.cork()
    defer(flush)
  }
}
