#!/usr/bin/env node
// 50,000 idle WebSocket connections on one Switchyard server (issue 12; not run in CI). One server process
// (node --expose-gc) and a few client processes of raw `ws` sockets that speak the handshake themselves
// (HELLO, then a PONG for every PING) and are bound to several 127.0.0.x addresses (`localAddress`), so that
// the connections are not limited by one address's ephemeral ports (net.ipv4.ip_local_port_range).
// Prints the time to connect them all, then the server's RSS and V8 heap per connection after a full GC,
// holds them through two heartbeat intervals and checks that every one is still there. Exit code 0 when
// every connection was opened and held, 1 otherwise.
//
//   pnpm build && node scripts/idle-50k.mjs
//   node scripts/idle-50k.mjs --connections 20000 --processes 2 --addresses 4 --hold 40
//
// Options: --connections (50000), --processes: client processes (4), --addresses: 127.0.0.2, .3, … (8),
// --concurrency: connects in flight per client process (250), --hold: seconds to hold them all (35).
//
// Open files. Each connection is a file descriptor in the server, so the server needs an open-files limit
// above --connections (and each client process above its share). The script raises the soft limit of each
// child with `ulimit -n` up to the hard limit; when the hard limit is too low it says so and stops. Raise it
// as root (`ulimit -Hn 100000` in the shell that runs the script, or `prlimit --nofile=100000:100000`,
// or `docker run --ulimit nofile=100000:100000`), or run fewer connections.
//
// The server takes every connection from these addresses: its per-address bounds (maxConnectionsPerIp,
// maxSessionsPerIp, and the new-session rate per address) are raised to each address's share, and
// maxSessions to the number of connections.
import { execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import os from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const serverPackage = join(root, "packages/server-node")
const requireFromServer = createRequire(join(serverPackage, "package.json"))
const self = fileURLToPath(import.meta.url)

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  if (i === -1) return fallback
  const value = Number(process.argv[i + 1])
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`)
  return value
}

// --- the runner ------------------------------------------------------------------------------------------

async function main() {
  const connections = option("connections", 50_000)
  const processes = Math.min(option("processes", 4), connections)
  const addresses = option("addresses", 8)
  const concurrency = option("concurrency", 250)
  const holdS = option("hold", 35)
  const perProcess = Math.ceil(connections / processes)
  const perAddress = Math.ceil(connections / addresses)
  // A few descriptors more than the sockets: the listening socket, IPC, stdio, libuv's own.
  const serverFiles = connections + 256
  const clientFiles = perProcess + 256
  const hard = hardFileLimit()
  const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number)
  const ports = high - low + 1
  console.log(`command: node scripts/idle-50k.mjs ${process.argv.slice(2).join(" ")}`.trim())
  console.log(
    `node ${process.version}; ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "?"}; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; load average ${os.loadavg()[0].toFixed(2)}`,
  )
  console.log(
    `${connections} connections from ${processes} client processes, ${addresses} source addresses (127.0.0.2–127.0.0.${addresses + 1}, ${perAddress} each; ${ports} ephemeral ports per address), ${concurrency} connects in flight per process`,
  )
  if (hard < serverFiles) {
    console.log(
      `\nCANNOT RUN: the server needs ${serverFiles} open files for ${connections} connections, and the hard limit here is ${hard}.` +
        `\nRaise the hard limit (as root: \`ulimit -Hn ${serverFiles}\` in this shell, or \`docker run --ulimit nofile=${serverFiles}:${serverFiles}\`),` +
        ` or run at most ${hard - 256} connections (--connections ${hard - 256}).`,
    )
    process.exit(1)
  }
  if (perAddress > ports - 100) {
    console.log(
      `\nCANNOT RUN: ${perAddress} connections per address exceed the ${ports} ephemeral ports: use more --addresses.`,
    )
    process.exit(1)
  }

  const server = child("server", [String(perAddress + 16), String(connections + 1000)], serverFiles)
  const clients = []
  try {
    const { url } = await server.next("ready")
    // What the server allocates once (compiled code, pools) is not counted: a few hundred sessions open
    // and end first (BYE), and the baseline is read once the server let go of them.
    const warmUp = child("client", [], WARM_UP + 256)
    clients.push(warmUp)
    warmUp.send({ type: "connect", url, from: 0, count: Math.min(WARM_UP, connections), addresses, concurrency })
    await warmUp.next("ready")
    await warmUp.next("connected")
    warmUp.send({ type: "close-all" })
    await warmUp.next("closed")
    await sleep(3000)
    server.send({ type: "measure" })
    const before = await server.next("memory")
    console.log(
      `baseline, after ${WARM_UP} sessions opened and ended: ${before.sessions} sessions, RSS ${mib(before.rss)} MiB, V8 heap ${mib(before.heapUsed)} MiB`,
    )
    let connected = 0
    let lastShown = 0
    const loaders = Array.from({ length: processes }, () => child("client", [], clientFiles))
    clients.push(...loaders)
    await Promise.all(loaders.map((client) => client.next("ready")))
    const t0 = performance.now()
    for (const [p, client] of loaders.entries()) {
      const from = p * perProcess
      const count = Math.min(perProcess, connections - from)
      client.on("progress", (message) => {
        connected += message.delta
        const now = performance.now()
        if (connected > 0 && now - lastShown > 2000) {
          lastShown = now
          console.log(`  ${connected} connected after ${((now - t0) / 1000).toFixed(1)} s`)
        }
      })
      client.send({ type: "connect", url, from, count, addresses, concurrency })
    }
    const results = await Promise.all(clients.slice(1).map((client) => client.next("connected")))
    const seconds = (performance.now() - t0) / 1000
    const failed = results.reduce((sum, r) => sum + r.failed, 0)
    const opened = results.reduce((sum, r) => sum + r.opened, 0)
    console.log(
      `\nconnected ${opened} of ${connections} in ${seconds.toFixed(1)} s: ${Math.round(opened / seconds)} connects/s` +
        (failed ? `; ${failed} failed (first: ${results.find((r) => r.firstError)?.firstError})` : ""),
    )
    await sleep(5000)
    server.send({ type: "measure" })
    const after = await server.next("memory")
    const per = (key) => ((after[key] - before[key]) / opened / 1024).toFixed(2)
    console.log(
      `server with ${after.sessions} sessions: RSS ${mib(before.rss)} → ${mib(after.rss)} MiB, V8 heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB after GC`,
    )
    console.log(`per connection: RSS ${per("rss")} KB, V8 heap ${per("heapUsed")} KB (1 KB = 1,024 bytes)`)
    console.log(`holding them for ${holdS} s (the server pings every session every 15 s; the clients answer)…`)
    await sleep(holdS * 1000)
    server.send({ type: "measure" })
    const held = await server.next("memory")
    for (const client of clients.slice(1)) client.send({ type: "count" })
    const counts = await Promise.all(clients.slice(1).map((client) => client.next("count")))
    const open = counts.reduce((sum, c) => sum + c.open, 0)
    const heldRss = ((held.rss - before.rss) / opened / 1024).toFixed(2)
    console.log(
      `after ${holdS} s: ${held.sessions} sessions on the server, ${open} sockets open on the clients; RSS ${mib(held.rss)} MiB, ${heldRss} KB per connection`,
    )
    const ok = failed === 0 && opened === connections && held.sessions === connections && open === connections
    console.log(ok ? "\nPASS: every connection opened and held" : "\nFAIL: see above")
    process.exitCode = ok ? 0 : 1
  } finally {
    await Promise.all(clients.map((client) => client.stop()))
    await server.stop()
  }
}

/** Sessions opened and ended before the baseline. */
const WARM_UP = 500
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The hard open-files limit a child started through `sh` gets. */
function hardFileLimit() {
  const text = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim()
  return text === "unlimited" ? Number.POSITIVE_INFINITY : Number(text)
}

/** A child process of this script in `role`, its soft open-files limit raised to `files` by `ulimit -n`. */
function child(role, args, files) {
  const flags = role === "server" ? "--expose-gc " : ""
  const script = `ulimit -n ${files} && exec "${process.execPath}" ${flags}"$0" "$@"`
  const proc = spawn("sh", ["-c", script, self, role, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const queue = []
  const waiters = []
  const routes = new Map()
  let exited
  proc.on("message", (message) => {
    const route = routes.get(message.type)
    if (route) return route(message)
    const i = waiters.findIndex((w) => w.type === message.type)
    if (i === -1) return queue.push(message)
    waiters.splice(i, 1)[0].resolve(message)
  })
  proc.on("exit", (code, signal) => {
    exited = new Error(`${role} process exited (${signal ?? code})`)
    for (const w of waiters.splice(0)) w.reject(exited)
  })
  return {
    send: (message) => proc.connected && proc.send(message),
    on: (type, listener) => routes.set(type, listener),
    next(type) {
      const i = queue.findIndex((m) => m.type === type)
      if (i !== -1) return Promise.resolve(queue.splice(i, 1)[0])
      if (exited) return Promise.reject(exited)
      return new Promise((resolve, reject) => waiters.push({ type, resolve, reject }))
    },
    async stop() {
      if (exited) return
      const gone = new Promise((resolve) => proc.once("exit", resolve))
      proc.send({ type: "exit" })
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000)
      await gone
      clearTimeout(timer)
    },
  }
}

// --- the server process ----------------------------------------------------------------------------------

async function runServer() {
  const [perAddress, maxSessions] = process.argv.slice(3).map(Number)
  const { createServer, websocketServer } = await import(pathToFileURL(join(serverPackage, "dist/index.js")).href)
  const { contract, rpc } = await import(pathToFileURL(requireFromServer.resolve("@switchyard/core")).href)
  const Schema = await import(pathToFileURL(requireFromServer.resolve("effect/Schema")).href)
  const Echo = contract({ rpc: { echo: rpc({ input: Schema.String, output: Schema.String }) } })
  const server = createServer(
    Echo,
    { rpc: { echo: (text) => text } },
    {
      transports: [websocketServer()],
      limits: {
        maxConnectionsPerIp: perAddress,
        maxSessionsPerIp: perAddress,
        newSessionsPerSecondPerIp: Number.POSITIVE_INFINITY,
        newSessionBurstPerIp: perAddress,
        maxSessions,
      },
    },
  )
  const { url } = await server.listen(0, "127.0.0.1")
  process.on("message", async (message) => {
    if (message.type === "measure") {
      for (let i = 0; i < 4; i++) {
        globalThis.gc()
        await sleep(50)
      }
      const { rss, heapUsed } = process.memoryUsage()
      process.send({ type: "memory", rss, heapUsed, sessions: server.sessionCount })
    } else if (message.type === "exit") {
      await Promise.race([server.close(), sleep(10_000)])
      process.exit(0)
    }
  })
  process.on("disconnect", () => process.exit(0))
  process.send({ type: "ready", url })
}

// --- a client process ------------------------------------------------------------------------------------

async function runClient() {
  const { default: WebSocket } = await import(pathToFileURL(requireFromServer.resolve("ws")).href)
  const core = await import(pathToFileURL(requireFromServer.resolve("@switchyard/core")).href)
  const { FrameType, PROTOCOL_VERSION, clientControl } = core
  const hello = clientControl.hello(PROTOCOL_VERSION, null, 0)
  // Idle: no data frame is ever received, so every PONG says 0.
  const pong = clientControl.pong(0)
  const bye = clientControl.bye("CLIENT_CLOSED", "warm-up over")
  const welcome = `[${FrameType.WELCOME},`
  const ping = `[${FrameType.PING},`
  const sockets = new Set()

  /** Opens one connection from `localAddress` and resolves once its WELCOME came. */
  const open = (url, localAddress) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, "ws"), { localAddress, perMessageDeflate: false })
      let welcomed = false
      ws.on("open", () => ws.send(hello))
      ws.on("message", (data) => {
        const text = data.toString()
        if (text.startsWith(ping)) return ws.send(pong)
        if (!welcomed && text.startsWith(welcome)) {
          welcomed = true
          sockets.add(ws)
          resolve()
        }
      })
      ws.on("error", (error) => {
        if (!welcomed) reject(error)
      })
      ws.on("close", (code, reason) => {
        sockets.delete(ws)
        if (!welcomed) reject(new Error(`closed before its WELCOME: ${code} ${reason}`))
      })
    })

  process.on("message", async (message) => {
    if (message.type === "connect") {
      const { url, from, count, addresses, concurrency } = message
      let next = 0
      let opened = 0
      let failed = 0
      let firstError
      let unreported = 0
      const report = setInterval(() => {
        process.send({ type: "progress", delta: unreported })
        unreported = 0
      }, 500)
      const worker = async () => {
        while (next < count) {
          const i = from + next++
          try {
            await open(url, `127.0.0.${2 + (i % addresses)}`)
            opened++
            unreported++
          } catch (error) {
            failed++
            firstError ??= String(error?.message ?? error)
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
      clearInterval(report)
      process.send({ type: "progress", delta: unreported })
      process.send({ type: "connected", opened, failed, firstError })
    } else if (message.type === "close-all") {
      const closing = [...sockets].map(
        (ws) =>
          new Promise((resolve) => {
            ws.once("close", resolve)
            ws.send(bye)
            ws.close()
          }),
      )
      await Promise.all(closing)
      process.send({ type: "closed" })
    } else if (message.type === "count") {
      process.send({ type: "count", open: sockets.size })
    } else if (message.type === "exit") {
      for (const ws of sockets) ws.terminate()
      process.exit(0)
    }
  })
  process.on("disconnect", () => process.exit(0))
  process.send({ type: "ready" })
}

const role = process.argv[2]
if (role === "server") await runServer()
else if (role === "client") await runClient()
else await main()
