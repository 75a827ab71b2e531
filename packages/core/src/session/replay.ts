/** Frames sent but not yet acknowledged, oldest first; frame `i` has sequence number `first + i`. */
export class ReplayBuffer {
  #frames: string[] = []
  #head = 0
  /** Sequence number of `frames[head]`. */
  first = 1
  bytes = 0

  get length(): number {
    return this.#frames.length - this.#head
  }

  push(frame: string): void {
    this.#frames.push(frame)
    this.bytes += frame.length
  }

  /** Drops every frame with a sequence number up to `seq`. */
  trimTo(seq: number): void {
    while (this.first <= seq && this.#head < this.#frames.length) {
      this.bytes -= (this.#frames[this.#head] as string).length
      this.#frames[this.#head++] = ""
      this.first++
    }
    // Compact once the dead prefix dominates, so trimming stays O(1) amortised.
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head)
      this.#head = 0
    }
  }

  forEach(fn: (frame: string) => void): void {
    for (let i = this.#head; i < this.#frames.length; i++) fn(this.#frames[i] as string)
  }
}
