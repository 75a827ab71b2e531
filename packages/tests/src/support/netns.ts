import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { connect, createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Browser } from "playwright-core"
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "./chromium.ts"

/**
 * Chromium in a network namespace of its own (Linux, `unshare -n`, as root). With `network: "none"` the
 * namespace holds nothing but a loopback interface, and Chromium runs without
 * `--allow-loopback-in-peer-connection`: WebRTC finds no interface to gather candidates on, so no data
 * channel can connect, as behind a network that carries no UDP between the peers. With `network: "lan"`
 * it also has a veth pair (10.9.9.1 and 10.9.9.2, a default route): the same set-up where WebRTC works,
 * the control that shows the namespace itself breaks nothing else. Either way the pages reach
 * `targetPort` on this host through one TCP port inside the namespace, carried over a Unix socket (the
 * file system is shared) by a small forwarder that runs in the namespace.
 */
export interface IsolatedChromium extends AsyncDisposable {
  readonly browser: Browser
  /** The origin pages use for the target, inside the namespace: `http://127.0.0.1:<port>`. */
  readonly origin: string
}

const FORWARDER = `
import { connect, createServer } from "node:net"
import { writeFileSync } from "node:fs"
const [port, socket, ready] = process.argv.slice(2)
const server = createServer((tcp) => {
  const unix = connect(socket)
  tcp.pipe(unix).pipe(tcp)
  tcp.on("error", () => unix.destroy())
  unix.on("error", () => tcp.destroy())
})
server.listen(Number(port), "127.0.0.1", () => writeFileSync(ready, ""))
// The shell execs Chromium in its place: when Chromium exits, this process is orphaned and leaves too.
const parent = process.ppid
setInterval(() => { if (process.ppid !== parent) process.exit(0) }, 200)
`

export async function isolatedChromium(targetPort: number, network: "none" | "lan"): Promise<IsolatedChromium> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-netns-"))
  const socket = join(dir, "target.sock")
  const port = 8080
  const bridge: Server = createServer((unix) => {
    const tcp = connect(targetPort, "127.0.0.1")
    unix.pipe(tcp).pipe(unix)
    unix.on("error", () => tcp.destroy())
    tcp.on("error", () => unix.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    bridge.once("error", reject)
    bridge.listen(socket, resolve)
  })
  writeFileSync(join(dir, "forwarder.mjs"), FORWARDER)
  // Inside the namespace: loopback up, the forwarder (without Playwright's pipes, fds 3 and 4) ready,
  // then Chromium in the shell's place.
  const inside = join(dir, "inside.sh")
  writeFileSync(
    inside,
    [
      "#!/bin/sh",
      "ip link set lo up || exit 1",
      ...(network === "lan"
        ? [
            "ip link add v0 type veth peer name v1 || exit 1",
            "ip addr add 10.9.9.1/24 dev v0 && ip addr add 10.9.9.2/24 dev v1 || exit 1",
            "ip link set v0 up && ip link set v1 up && ip route add default via 10.9.9.2 dev v0 || exit 1",
          ]
        : []),
      `"${process.execPath}" "${join(dir, "forwarder.mjs")}" ${port} "${socket}" "${join(dir, "ready")}" 3>&- 4>&- &`,
      `while [ ! -e "${join(dir, "ready")}" ]; do sleep 0.02; done`,
      `exec "${CHROMIUM_PATH}" "$@"`,
      "",
    ].join("\n"),
  )
  const launcher = join(dir, "chromium.sh")
  writeFileSync(launcher, ["#!/bin/sh", `exec unshare -n -- "${inside}" "$@"`, ""].join("\n"))
  chmodSync(inside, 0o755)
  chmodSync(launcher, 0o755)
  const { chromium } = await import("playwright-core")
  let browser: Browser
  try {
    browser = await chromium.launch({
      executablePath: launcher,
      headless: true,
      // Without --allow-loopback-in-peer-connection (see above).
      args: [...CHROMIUM_FLAGS],
    })
  } catch (error) {
    bridge.close()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    browser,
    origin: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      await browser.close()
      await new Promise<void>((resolve) => bridge.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
