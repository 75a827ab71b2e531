/** What `listenOn` needs of a Switchyard server. */
interface Listener {
  listen(port: number, host: string): Promise<unknown>
  close(): Promise<void>
}

/**
 * A server made by `make`, listening on `port` of 127.0.0.1, for a server that takes over from one that
 * closed there: while the port is still held (by the old server's sockets, or by a connection of this
 * machine that was given it meanwhile), it tries again for up to 5 s, each time with a new server (one
 * whose `listen()` failed takes no second call).
 *
 * @example
 * await first.server.close()
 * const second = await listenOn(() => createServer(Api, handlers), first.port)
 */
export async function listenOn<S extends Listener>(make: () => S, port: number): Promise<S> {
  const deadline = Date.now() + 5000
  for (;;) {
    const server = make()
    try {
      await server.listen(port, "127.0.0.1")
      return server
    } catch (error) {
      await server.close()
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
