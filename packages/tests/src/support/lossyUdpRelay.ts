import { createSocket, type RemoteInfo, type Socket } from "node:dgram"

/**
 * A UDP relay on 127.0.0.1 between two WebRTC peers, for loss tests: the answering peer's host candidate
 * is rewritten to the relay's port (`candidate()`), so that every packet between the two goes through
 * it. While `lossy` is set, a third of the packets from the answerer, picked pseudo-randomly, are dropped;
 * while `cut` is set, every packet either way is (a network that stopped carrying anything between them).
 */
export class LossyUdpRelay implements AsyncDisposable {
  lossy = false
  cut = false
  dropped = 0
  private answerer: { address: string; port: number } | undefined
  private offerer: RemoteInfo | undefined
  private seed = 1

  /**
   * The same pseudo-random sequence on every run (a linear congruential generator). Not a fixed pattern
   * such as "every third packet", which can line up with the traffic's own period and drop nothing that
   * matters.
   */
  private random(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31
    return this.seed / 2 ** 31
  }

  private constructor(private readonly socket: Socket) {
    socket.on("message", (packet, from) => {
      const fromAnswerer = from.port === this.answerer?.port
      if (this.cut) {
        this.dropped++
        return
      }
      if (!fromAnswerer) this.offerer = from
      if (this.lossy && fromAnswerer && this.random() < 1 / 3) {
        this.dropped++
        return
      }
      const to = fromAnswerer ? this.offerer : this.answerer
      if (to) socket.send(packet, to.port, to.address)
    })
  }

  static async start(): Promise<LossyUdpRelay> {
    const socket = createSocket("udp4")
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve))
    return new LossyUdpRelay(socket)
  }

  /**
   * The answerer's first IPv4 UDP host candidate, rewritten to point at the relay; `undefined` for any
   * other candidate (which the test does not pass on, so that no packet can bypass the relay).
   */
  candidate(line: string): string | undefined {
    const m = / UDP \d+ (\d+\.\d+\.\d+\.\d+) (\d+) typ host/i.exec(line)
    if (!m || this.answerer) return undefined
    this.answerer = { address: m[1] as string, port: Number(m[2]) }
    const { port } = this.socket.address()
    return line.replace(`${m[1]} ${m[2]}`, `127.0.0.1 ${port}`).replace(/^a=/, "")
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
  }
}
