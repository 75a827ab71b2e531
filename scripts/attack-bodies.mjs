#!/usr/bin/env node
// The memory attacks of issue 12 (items 1 and 2), at full size, against a Switchyard server with the
// default limits running in a child process. Not part of CI: it takes about a minute and opens ~1,800
// connections. Prints, for each attack, the server's RSS before, at its peak and after, the answers the
// connections got, and how long the server took to close them. Exit code 1 if an attack grew the RSS by
// more than 128 MiB or left a connection open longer than readTimeoutMs + the closing wait + 2 s.
//
//   pnpm build && node scripts/attack-bodies.mjs
//
// ATTACK_ONLY=bodies|link|messages runs one attack; ATTACK_BODIES (1100), ATTACK_LINK_POSTS (300),
// ATTACK_MESSAGES (400) set their sizes.
import { fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { connect } from "node:net"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
// The built packages, as the tests package sees them (pnpm build first).
const requireFromTests = createRequire(join(root, "packages/tests/package.json"))
const MiB = 1024 * 1024
const RSS_BOUND = 128 * MiB
const READ_TIMEOUT_MS = 10_000
const CLOSE_WAIT_MS = 1_000

/** The child: a server with the default limits, answering the parent's questions over IPC. */
async function serve() {
  const { createServer } = await import(pathToFileURL(requireFromTests.resolve("@switchyard/server-node")).href)
  const { TestContract, testHandlers } = await import(
    pathToFileURL(requireFromTests.resolve("@switchyard/core/testing")).href
  )
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }), { onError: () => {} })
  const { url } = await server.listen(0, "127.0.0.1")
  process.on("message", (message) => {
    if (message === "stats") process.send({ rss: rssBytes(), incomplete: server.incompleteBytes })
    if (message === "close") void server.close().then(() => process.exit(0))
  })
  process.send({ url })
}

/** Resident memory of this process from /proc (the same as process.memoryUsage().rss, without its cost). */
function rssBytes() {
  const line = readFileSync("/proc/self/status", "utf8").match(/VmRSS:\s+(\d+) kB/)
  return line ? Number(line[1]) * 1024 : process.memoryUsage().rss
}

async function attack() {
  const only = process.env.ATTACK_ONLY
  const results = []
  if (!only || only === "bodies") results.push(await run("bodies", Number(process.env.ATTACK_BODIES ?? 1100)))
  if (!only || only === "link") results.push(await run("link", Number(process.env.ATTACK_LINK_POSTS ?? 300)))
  if (!only || only === "messages") results.push(await run("messages", Number(process.env.ATTACK_MESSAGES ?? 400)))
  const failed = results.filter((r) => !r.ok)
  console.log(failed.length === 0 ? "PASS" : `FAIL: ${failed.map((r) => r.name).join(", ")}`)
  process.exitCode = failed.length === 0 ? 0 : 1
}

/** Starts a fresh server, runs one attack against it, samples its RSS until every connection is closed. */
async function run(name, count) {
  const child = fork(fileURLToPath(import.meta.url), ["--server"], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const replies = []
  child.on("message", (m) => replies.push(m))
  const next = async () => {
    while (replies.length === 0) await sleep(5)
    return replies.shift()
  }
  const { url } = await next()
  const stats = async () => {
    child.send("stats")
    return next()
  }
  // Warm up: a few honest requests, so that the baseline includes what any server has loaded.
  for (let i = 0; i < 5; i++) {
    const opened = await fetch(`${url}?transport=long-polling`, { method: "POST", body: "[20,1,null,0]" })
    await opened.text()
  }
  await sleep(500)
  const before = await stats()
  let peak = before.rss
  let peakIncomplete = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const s = await stats()
      peak = Math.max(peak, s.rss)
      peakIncomplete = Math.max(peakIncomplete, s.incomplete)
      await sleep(100)
    }
  })()
  const startedAt = Date.now()
  const connections = await ATTACKS[name](url, count)
  const closedAt = await Promise.all(connections.map((c) => c.closed))
  const allClosedMs = Math.max(...closedAt) - startedAt
  sampling = false
  await sampler
  const after = await stats()
  child.send("close")
  await new Promise((resolve) => child.once("exit", resolve))

  const answers = {}
  for (const c of connections) answers[c.answer] = (answers[c.answer] ?? 0) + 1
  const lifetimes = connections.map((c, i) => closedAt[i] - c.startedAt).sort((a, b) => a - b)
  const growth = peak - before.rss
  const bound = READ_TIMEOUT_MS + CLOSE_WAIT_MS + 2_000
  const ok = growth <= RSS_BOUND && lifetimes.at(-1) <= bound
  console.log(`\n== ${DESCRIPTIONS[name](count)}`)
  console.log(
    `server RSS: ${mib(before.rss)} before, ${mib(peak)} at peak (+${mib(growth)}; bound +${mib(RSS_BOUND)}), ${mib(after.rss)} after`,
  )
  console.log(`bytes of unfinished bodies/messages held (server.incompleteBytes): at most ${mib(peakIncomplete)}`)
  console.log(
    `answers: ${Object.entries(answers)
      .map(([a, n]) => `${n} × ${a}`)
      .join(", ")}`,
  )
  console.log(
    `connection lifetime (sent → closed by the server): median ${lifetimes[lifetimes.length >> 1]} ms, ` +
      `p99 ${lifetimes[Math.floor(lifetimes.length * 0.99)]} ms, max ${lifetimes.at(-1)} ms (bound ${bound} ms); ` +
      `all closed ${allClosedMs} ms after the attack started`,
  )
  console.log(ok ? "ok" : "NOT OK")
  return { name, ok }
}

const DESCRIPTIONS = {
  bodies: (n) => `${n} opening POSTs from one address, each 1,114,000 of 1,114,112 announced bytes, then nothing`,
  link: (n) => `${n} upstream POSTs on one valid long-polling link, each 1,114,000 of 1,114,112 announced bytes`,
  messages: (n) => `${n} WebSockets from one address, each a HELLO then 2,096,000 bytes of a 2,097,000-byte message`,
}

const BODY = Buffer.alloc(1_114_000, 0x61)
const ATTACKS = {
  bodies: (url, n) => inBatches(n, () => unfinishedPost(`${url}?transport=long-polling`)),
  async link(url, n) {
    const opened = await fetch(`${url}?transport=long-polling`, { method: "POST", body: "[20,1,null,0]" })
    const { link } = await opened.json()
    return inBatches(n, () => unfinishedPost(`${url}?link=${link}`))
  },
  messages: (url, n) => inBatches(n, () => unfinishedMessage(url)),
}

/** Opens `n` connections, 100 at a time (the listen backlog), and returns them. */
async function inBatches(n, open) {
  const all = []
  for (let i = 0; i < n; i += 100) {
    all.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, open))))
  }
  return all
}

/**
 * A connection that keeps its side open after the server ends its own, and then writes a byte every 100 ms
 * until the server's kernel resets it: `closed` is when the server let the connection go.
 */
async function rawConnection(target) {
  const url = new URL(target)
  const socket = connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true })
  socket.on("error", () => {})
  const conn = { socket, received: Buffer.alloc(0), startedAt: 0, answer: "closed without an answer" }
  conn.closed = new Promise((resolve) => socket.once("close", () => resolve(Date.now())))
  socket.on("data", (chunk) => {
    conn.received = Buffer.concat([conn.received, chunk])
  })
  socket.once("end", () => {
    const probe = setInterval(() => {
      if (socket.destroyed) return clearInterval(probe)
      socket.write("a")
    }, 100)
  })
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  conn.startedAt = Date.now()
  return conn
}

async function unfinishedPost(target) {
  const url = new URL(target)
  const conn = await rawConnection(target)
  conn.socket.write(
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: text/plain\r\nContent-Length: 1114112\r\n\r\n`,
  )
  conn.socket.write(BODY)
  conn.socket.on("data", () => {
    const text = conn.received.toString("latin1")
    const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]
    if (status) conn.answer = `${status} ${/"code":"([A-Z_]+)"/.exec(text)?.[1] ?? ""}`.trim()
  })
  return conn
}

const MESSAGE_BYTES = 2_097_000
const MESSAGE_PART = Buffer.alloc(2_096_000, 0x61)

async function unfinishedMessage(target) {
  const url = new URL(target)
  const conn = await rawConnection(target)
  conn.socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  const header = Buffer.alloc(14)
  header[0] = 0x81
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(BigInt(MESSAGE_BYTES), 2)
  conn.socket.write(Buffer.concat([maskedText("[20,1,null,0]"), header]))
  // The message's time starts with its first byte.
  conn.startedAt = Date.now()
  conn.socket.write(MESSAGE_PART)
  conn.socket.on("data", () => {
    const at = conn.received.indexOf("\r\n\r\n")
    if (at === -1) return
    const status = conn.received.subarray(0, at).toString().split(" ")[1]
    const code = status === "101" ? closeCodeIn(conn.received.subarray(at + 4)) : undefined
    conn.answer = status !== "101" ? `upgrade ${status}` : code === undefined ? "open" : `close ${code}`
  })
  return conn
}

/** A masked (zero mask) text frame of a short text. */
function maskedText(text) {
  const payload = Buffer.from(text)
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

/** The code of the first close frame in what a server sent. */
function closeCodeIn(bytes) {
  let at = 0
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f
    let length = bytes[at + 1] & 0x7f
    let start = at + 2
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2)
      start += 2
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2))
      start += 8
    }
    if (opcode === 0x8) return length >= 2 && start + 2 <= bytes.length ? bytes.readUInt16BE(start) : undefined
    at = start + length
  }
  return undefined
}

function mib(bytes) {
  return `${(bytes / MiB).toFixed(1)} MiB`
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Last, once every constant above is set.
if (process.argv[2] === "--server") await serve()
else await attack()
