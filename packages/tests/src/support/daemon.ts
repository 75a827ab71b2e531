import { type ChildProcess, spawn } from "node:child_process"
import { connect, createServer } from "node:net"

/** A system daemon (redis-server, nginx, squid, coturn) a test started, with what it wrote to stderr. */
export interface Daemon {
  readonly child: ChildProcess
  /** Everything the daemon wrote to stderr so far, for a failure message. */
  stderr(): string
  /** Settles once the daemon has exited and its stderr is read to the end. */
  readonly closed: Promise<void>
}

/** Starts `command` with no stdin and no stdout, keeping its stderr (see {@link Daemon}). */
export function spawnDaemon(command: string, args: readonly string[], cwd?: string): Daemon {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()))
  return { child, stderr: () => stderr, closed }
}

/**
 * Waits until `ready()` holds, checking every 20 ms. Throws, naming the daemon and quoting its stderr (and
 * `log()`, when given), if it exits first or `ready()` still fails after `timeoutMs`; the caller then
 * stops it and removes what it made.
 *
 * @example
 * await untilReady("nginx", daemon, () => accepts(port), 10_000, () => readFile(errorLog, "utf8"))
 */
export async function untilReady(
  name: string,
  daemon: Daemon,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  log: () => Promise<string> = async () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { exitCode } = daemon.child
    if (exitCode !== null) {
      // Its last words may still be on their way (at most 1 s: a process it forked may hold stderr open).
      await Promise.race([daemon.closed, new Promise((resolve) => setTimeout(resolve, 1000))])
      throw new Error(`${name} exited (${exitCode}): ${daemon.stderr()}${await log()}`)
    }
    if (await ready()) return
    if (Date.now() > deadline) {
      throw new Error(`${name} was not ready after ${timeoutMs} ms: ${daemon.stderr()}${await log()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Stops `child` with `signal` and waits for it to exit; SIGKILL after `killAfterMs` if it has not (a
 * SIGKILL itself needs no second one). SIGCONT first, so that a paused daemon can act on the signal.
 */
export async function stopDaemon(child: ChildProcess, signal: NodeJS.Signals, killAfterMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGCONT")
  child.kill(signal)
  const killer = signal === "SIGKILL" ? undefined : setTimeout(() => child.kill("SIGKILL"), killAfterMs)
  await exited
  clearTimeout(killer)
}

/** A free TCP port on 127.0.0.1, for daemons that cannot be told to pick one. */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const address = probe.address()
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  if (address === null || typeof address === "string") throw new Error("no port")
  return address.port
}

/** Whether something accepts TCP connections on `127.0.0.1:<port>`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })
}
