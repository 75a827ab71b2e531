import { createServer } from "node:net"
import { expect, it } from "vitest"
import { accepts, freePort, spawnDaemon, stopDaemon, untilReady } from "./daemon.ts"

it("untilReady names a daemon that exits before it is ready, with its stderr and log", async () => {
  const daemon = spawnDaemon("sh", ["-c", "echo 'bad config' >&2; exit 3"])
  await expect(
    untilReady(
      "fake",
      daemon,
      async () => false,
      5000,
      async () => " [log]",
    ),
  ).rejects.toThrow("fake exited (3): bad config\n [log]")
})

it("untilReady gives up after its timeout, and stopDaemon kills what ignores SIGTERM", async () => {
  const daemon = spawnDaemon("sh", ["-c", "trap '' TERM; echo waiting >&2; while :; do sleep 0.05; done"])
  const started = Date.now()
  await expect(untilReady("stuck", daemon, async () => false, 200)).rejects.toThrow(/^stuck was not ready after 200 ms/)
  expect(Date.now() - started).toBeGreaterThanOrEqual(200)
  await stopDaemon(daemon.child, "SIGTERM", 100)
  expect(daemon.child.signalCode).toBe("SIGKILL")
})

it("untilReady returns once ready holds, and accepts sees a listener on freePort's port", async () => {
  const port = await freePort()
  expect(await accepts(port)).toBe(false)
  const server = createServer().listen(port, "127.0.0.1")
  const daemon = spawnDaemon("sleep", ["10"])
  try {
    await untilReady("listener", daemon, () => accepts(port), 5000)
  } finally {
    server.close()
    await stopDaemon(daemon.child, "SIGTERM")
  }
  expect(daemon.child.signalCode).toBe("SIGTERM")
})
