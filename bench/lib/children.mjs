// Starting the server and client processes and talking to them over IPC.
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const libDir = fileURLToPath(new URL(".", import.meta.url))

/** Whether util-linux `taskset` can be run here. */
export function hasTaskset() {
  const probe = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" })
  return probe.status === 0
}

/**
 * A child process of `lib/<script>` with IPC, pinned to `cpu` with `taskset` when `cpu` is a number
 * (taskset execs node in place, so the IPC channel and the pid stay the same). `nodeArgs` go to node
 * before the script (`--expose-gc` for the idle-memory server).
 */
export function startChild(script, args, cpu, nodeArgs = []) {
  const entry = `${libDir}${script}`
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each fan-out server process in that directory.
  const prof = [
    ...nodeArgs,
    ...(script === "fanoutServer.mjs" && process.env.BENCH_CPU_PROF
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
      : []),
  ]
  const child =
    cpu === undefined
      ? spawn(process.execPath, [...prof, entry, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
      : spawn("taskset", ["-c", String(cpu), process.execPath, ...prof, entry, ...args], {
          stdio: ["ignore", "inherit", "inherit", "ipc"],
        })
  const queue = []
  const waiters = []
  /** Message types handed to a listener as they come instead of being queued for `next`. */
  const routes = new Map()
  let exited
  child.on("message", (message) => {
    const route = routes.get(message.type)
    if (route) return route(message)
    const i = waiters.findIndex((w) => w.type === message.type || message.type === "failed")
    if (i === -1) return queue.push(message)
    const [w] = waiters.splice(i, 1)
    w.settle(message)
  })
  child.on("exit", (code, signal) => {
    exited = `${script} ${args.join(" ")} exited (${signal ?? code})`
    for (const w of waiters.splice(0)) w.fail(new Error(exited))
  })
  return {
    pid: child.pid,
    send(message) {
      if (child.connected) child.send(message)
    },
    /** Every message of `type` from now on goes to `listener` (for streams of messages, e.g. credit). */
    on(type, listener) {
      routes.set(type, listener)
    },
    /** The next message of `type`; rejects on a "failed" message, an exit, or after `timeoutMs`. */
    next(type, timeoutMs) {
      const queued = queue.findIndex((m) => m.type === type || m.type === "failed")
      if (queued !== -1) {
        const [m] = queue.splice(queued, 1)
        return m.type === "failed" ? Promise.reject(new Error(m.error)) : Promise.resolve(m)
      }
      if (exited) return Promise.reject(new Error(exited))
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`${script} ${args.join(" ")}: no "${type}" within ${timeoutMs} ms`))
        }, timeoutMs)
        const w = {
          type,
          settle: (m) => {
            clearTimeout(timer)
            m.type === "failed" ? reject(new Error(m.error)) : resolve(m)
          },
          fail: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        }
        waiters.push(w)
      })
    },
    /** Asks the child to exit, and kills it (this child only, by pid) if it has not within 3 s. */
    async stop() {
      if (exited) return
      const gone = new Promise((resolve) => child.once("exit", resolve))
      this.send({ type: "exit" })
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
      await gone
      clearTimeout(timer)
    },
  }
}
