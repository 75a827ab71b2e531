import { type ChildProcess, fork } from "node:child_process"
import type { SoakCommand, SoakStats } from "./server.ts"

/** The soak's server process (soak/server.ts, bundled), forked with `--expose-gc` and driven over IPC. */
export class ServerProcess implements AsyncDisposable {
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(bundle: string): Promise<ServerProcess> {
    const child = fork(bundle, [], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error("no port"))))
      child.once("exit", (code) => reject(new Error(`the soak server exited (${code}) before listening`)))
    })
    return new ServerProcess(child, port)
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/switchyard`
  }

  /** Whether the process is still running (a crash is a failure of the soak). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Sends one command and resolves with its answer; commands are answered in order. */
  ask<T>(command: SoakCommand): Promise<T> {
    const next = this.queue.then(
      () =>
        new Promise<T>((resolve, reject) => {
          if (!this.alive) return reject(new Error("the soak server is gone"))
          this.child.once("message", (answer: T) => resolve(answer))
          this.child.send(command)
        }),
    )
    this.queue = next.catch(() => {})
    return next
  }

  async stats(): Promise<SoakStats> {
    return (await this.ask<{ stats: SoakStats }>({ cmd: "stats" })).stats
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.alive) return
    const exited = new Promise((resolve) => this.child.once("exit", resolve))
    this.child.disconnect()
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 3000)
    await exited
    clearTimeout(killer)
  }
}
