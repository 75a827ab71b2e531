// Child process: runs one system's server and reports its own CPU time over a window on request.
// argv: <adapter file in ../systems>. IPC: → {type:"ready", url}; ← "cpu-start" → "cpu-started";
// ← "cpu-stop" → {type:"cpu", user, system} (µs since "cpu-start"); ← "exit".
import "./warnings.mjs"

const file = process.argv[2]
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
const server = await system.startServer()
let mark

process.on("disconnect", () => process.exit(0))
process.on("message", async (message) => {
  switch (message.type) {
    case "cpu-start":
      mark = process.cpuUsage()
      return process.send({ type: "cpu-started" })
    case "cpu-stop": {
      const { user, system } = process.cpuUsage(mark)
      return process.send({ type: "cpu", user, system })
    }
    case "exit":
      // A server that does not close promptly is not what is being measured.
      await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 2000))])
      process.exit(0)
  }
})
process.send({ type: "ready", url: server.url })
