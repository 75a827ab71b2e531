import { flood } from "./flooder.ts"

/**
 * A flood in a process of its own (bundled by `floodProcess`): `<url> <transport> <loops> <ms>`. It floods
 * for `ms`, or until its stdin closes, then prints its counts as one JSON line and exits.
 */
const [url = "", transport = "websocket", loops = "64", ms = "5000"] = process.argv.slice(2)
const running = flood({
  url,
  transport: transport === "long-polling" ? "long-polling" : "websocket",
  loops: Number(loops),
})
let ended = false
const end = async () => {
  if (ended) return
  ended = true
  const counts = await running.stop()
  process.stdout.write(`${JSON.stringify(counts)}\n`, () => process.exit(0))
}
setTimeout(end, Number(ms))
process.stdin.on("end", end)
process.stdin.resume()
