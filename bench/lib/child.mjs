// The child side of the bench's IPC, shared by the client and fan-out processes: each message from the
// runner is answered by the handler named by its `type`; a handler's failure is reported, not thrown.

/** Serves `handlers` until the runner goes away, after announcing `{ type: "ready", ...ready }`. */
export function serve(handlers, ready = {}) {
  process.on("disconnect", () => process.exit(0))
  process.on("message", async (message) => {
    try {
      const reply = await handlers[message.type](message)
      if (reply) process.send(reply)
    } catch (error) {
      process.send({ type: "failed", error: String(error?.stack ?? error) })
    }
  })
  process.send({ type: "ready", ...ready })
}
