// Child process: the fan-out's load process, `count` subscribers of one system in one process, each its
// own connection (and, for Switchyard, its own client and session). argv: <adapter file>. IPC:
//   ← {type:"subscribe", url, urls?, key, count, window} → {type:"subscribed-all"} once every subscriber has
//     connected and asked to subscribe (the server process says when it counts them all);
//   → {type:"credit", received} whenever the number of messages that *every* subscriber has received
//     has grown by a quarter of `window` (the runner relays it to the server's publisher);
//   ← "mark" → "marked": opens the measured window (sent while nothing is in flight);
//   ← {type:"drain", total, timeoutMs} → {type:"drained", complete, deliveries, seconds, cpuUser, cpuSystem,
//     problems, errors}: waits until every subscriber has messages 1..`total`, then checks that each got
//     exactly those, in order (`problems` lists failures); `deliveries` since the mark, `seconds` from the
//     mark to the moment the last subscriber got message `total`, CPU µs since the mark;
//   ← "exit".
// Every delivery is checked on arrival: it must be the subscriber's previous `n` + 1 with the right text.
import { serve } from "./child.mjs"
import "./warnings.mjs"

const S = "hello world"

const file = process.argv[2]
const system = await import(new URL(`../systems/${file}`, import.meta.url).href)
const now = () => process.hrtime.bigint()

let subscribers = []
/** Subscribers asked for; a message counts as received by everyone when this many have it. */
let expected = 0
/** Per subscriber: messages received and the last `n`. */
let counts
let lasts
let delivered = 0
let errors = 0
let firstError
/** Flow control: `ring[n % size]` counts the subscribers that have received `n`, for n > `everyone`. */
const RING = 1 << 16
const ring = new Uint32Array(RING)
let everyone = 0
let credited = 0
/** When `everyone` last grew. */
let everyoneAt = now()
let creditStep = 250
let mark

function onMessage(i, message) {
  const next = lasts[i] + 1
  const n = message?.n
  if (n !== next || message?.s !== S) {
    errors++
    firstError ??= `subscriber ${i}: expected n=${next}, got ${JSON.stringify(message)}`
  }
  if (typeof n === "number") lasts[i] = n
  counts[i]++
  delivered++
  if (n > everyone && n <= everyone + RING) {
    ring[n % RING]++
    while (ring[(everyone + 1) % RING] === expected) {
      ring[(everyone + 1) % RING] = 0
      everyone++
      everyoneAt = now()
    }
    if (everyone - credited >= creditStep) {
      credited = everyone
      process.send({ type: "credit", received: everyone })
    }
  }
}

const handlers = {
  async subscribe({ url, urls, key, count, window }) {
    if (window >= RING) throw new Error(`window must be below ${RING}`)
    creditStep = Math.max(1, Math.floor(window / 4))
    expected = count
    counts = new Float64Array(count)
    lasts = new Float64Array(count)
    const pending = []
    // Connect in groups, so that a hundred handshakes do not all race one another's timeouts.
    for (let i = 0; i < count; i += 10) {
      const group = []
      for (let j = i; j < Math.min(count, i + 10); j++) {
        // Across nodes (`urls`), subscribers are dealt to the nodes in turn.
        const target = urls ? urls[j % urls.length] : url
        group.push(system.connectSubscriber(target, key, (message) => onMessage(j, message)))
      }
      pending.push(...(await Promise.all(group)))
    }
    subscribers = pending
    return { type: "subscribed-all" }
  },
  mark() {
    mark = { delivered, t: now(), cpu: process.cpuUsage() }
    return { type: "marked" }
  },
  async drain({ total, timeoutMs }) {
    const end = Date.now() + timeoutMs
    while (everyone < total && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const complete = everyone >= total
    const cpu = mark ? process.cpuUsage(mark.cpu) : { user: 0, system: 0 }
    const window = mark
      ? {
          deliveries: delivered - mark.delivered,
          seconds: Number(everyoneAt - mark.t) / 1e9,
          cpuUser: cpu.user,
          cpuSystem: cpu.system,
        }
      : {}
    // Anything still arriving (a duplicate, say) would show up in counts after a short grace period.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const problems = []
    for (let i = 0; i < subscribers.length; i++) {
      const failure = subscribers[i].failure()
      if (counts[i] !== total || lasts[i] !== total || failure) {
        const why = failure ? `, ${failure.message ?? failure}` : ""
        problems.push(`subscriber ${i}: ${counts[i]} messages, last n=${lasts[i]}, expected ${total}${why}`)
      }
    }
    return {
      type: "drained",
      complete,
      ...window,
      total,
      problems: problems.slice(0, 5),
      failedSubscribers: problems.length,
      errors,
      firstError,
    }
  },
  async exit() {
    const closing = Promise.allSettled(subscribers.map((s) => s.close()))
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1000))])
    process.exit(0)
  },
}

serve(handlers)
