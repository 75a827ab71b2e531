// Child process: one system's fan-out server, publishing `{ n, s: "hello world" }` (n = 1, 2, …) to every
// subscriber of one topic key as fast as a window allows. argv: <adapter file in ../systems> [options as JSON]. IPC:
//   → {type:"ready", url};
//   ← {type:"await-subscribers", count, timeoutMs} → {type:"subscribed"} once the server itself counts
//     `count` subscribers of the key;
//   ← {type:"publish", burst, window} → {type:"publishing"}: publishes `burst` messages per `setImmediate`
//     turn (so I/O is served between bursts) while fewer than `window` messages are ahead of the slowest
//     subscriber, as last reported by ← {type:"credit", received} (relayed by the runner from the load
//     process); otherwise waits for the next credit;
//   ← "cpu-start" → "cpu-started"; ← "cpu-stop" → {type:"cpu", user, system, published, subscribers}: CPU µs
//     since "cpu-start", and the messages published meanwhile to that many subscribers;
//   ← "pause" → {type:"paused", total}: stops publishing ("publish" resumes from there); ← "exit".
import { serve } from "./child.mjs"
import "./warnings.mjs"

/** The topic key; the runner subscribes the load process to the same. */
const KEY = "k"
const S = "hello world"

const file = process.argv[2]
// Options for the adapter, as JSON (the cross-node run passes `{ redisUrl }`).
const options = JSON.parse(process.argv[3] ?? "{}")
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
const server = await system.startFanoutServer(KEY, options)
let mark
const pub = { running: false, parked: false, n: 0, received: 0, burst: 100, window: 1000 }

let scheduled = false
function schedule() {
  if (scheduled) return
  scheduled = true
  setImmediate(pump)
}

function pump() {
  scheduled = false
  if (!pub.running) return
  const limit = Math.min(pub.received + pub.window, pub.n + pub.burst)
  while (pub.n < limit) {
    pub.n++
    server.publish({ n: pub.n, s: S })
  }
  if (pub.n < pub.received + pub.window) schedule()
  else pub.parked = true
}

const handlers = {
  async "await-subscribers"({ count, timeoutMs }) {
    const end = Date.now() + timeoutMs
    while (server.subscribers() < count) {
      if (Date.now() > end) throw new Error(`${server.subscribers()} of ${count} subscribers after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return { type: "subscribed" }
  },
  publish({ burst, window }) {
    Object.assign(pub, { running: true, burst, window })
    schedule()
    return { type: "publishing" }
  },
  credit({ received }) {
    if (received > pub.received) pub.received = received
    if (pub.parked && pub.n < pub.received + pub.window) {
      pub.parked = false
      schedule()
    }
  },
  "cpu-start"() {
    mark = { cpu: process.cpuUsage(), n: pub.n }
    return { type: "cpu-started" }
  },
  "cpu-stop"() {
    const { user, system } = process.cpuUsage(mark.cpu)
    return { type: "cpu", user, system, published: pub.n - mark.n, subscribers: server.subscribers() }
  },
  pause() {
    pub.running = false
    pub.parked = false
    return { type: "paused", total: pub.n }
  },
  async exit() {
    // A server that does not close promptly is not what is being measured.
    await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 2000))]).catch(() => {})
    process.exit(0)
  },
}

serve(handlers, { url: server.url })
