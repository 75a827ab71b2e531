/**
 * Latest-value conflation of UNRELIABLE frames on one link (docs/delivery.md). A **slot** is one
 * unreliable channel of one session: a stream, or a topic key. At most one frame waits per slot; a newer
 * frame for the slot replaces the one waiting, so what waits is bounded by the number of slots (streams
 * and subscriptions, each bounded by the server's limits), never by the rate of publishing.
 *
 * Slots are objects the caller already has (the server's stream state, a topic key's state), so that
 * keeping a frame allocates nothing per message beyond what the `Map` needs for a new slot.
 */
export class LatestFrames {
  private readonly frames = new Map<object, string>()

  /** Frames waiting. */
  get size(): number {
    return this.frames.size
  }

  /** Keeps `frame` as the one waiting for `slot`; the one that waited there, if any, is dropped. */
  put(slot: object, frame: string): void {
    this.frames.set(slot, frame)
  }

  /**
   * Hands the waiting frames to `write`, the slot that has waited longest first, while `congested` (when
   * given) says the link can take more; the rest keep waiting.
   */
  flush(write: (frame: string) => void, congested?: () => boolean): void {
    for (const [slot, frame] of this.frames) {
      if (congested?.()) return
      this.frames.delete(slot)
      write(frame)
    }
  }

  /** Drops every waiting frame (the link closed: unreliable frames are never replayed). */
  clear(): void {
    this.frames.clear()
  }
}

/** What `latestPerTick` needs of a link that writes as it goes (a WebSocket, a data channel). */
export interface LatestOutlet {
  /** Writes one frame now. */
  write(frame: string): void
  /** Whether the link holds more unsent bytes than unreliable frames may wait behind. */
  congested(): boolean
  /** Runs `flush` once the current tick's work is done (`process.nextTick`, `queueMicrotask`). */
  defer(flush: () => void): void
}

/** Latest-value sending on a link that writes as it goes: see `latestPerTick`. */
export interface LatestSender {
  /** Keeps `frame` for `slot` (replacing what waited there) and has it written at the end of the tick. */
  send(slot: object, frame: string): void
  /** Writes what waits while the link is not congested: call it when the link drains. */
  flush(): void
  /** Drops what waits (the link closed). */
  clear(): void
}

/**
 * Sends UNRELIABLE frames latest-value-wins: frames of one tick wait, one per slot, and leave at the end
 * of the tick, after the tick's reliable frames, while the link is not congested. What a congested link
 * cannot take keeps waiting (replaced by newer frames) until the owner calls `flush` on a drain event.
 * No timer: a tick is the only batching.
 */
export function latestPerTick(outlet: LatestOutlet): LatestSender {
  const frames = new LatestFrames()
  let due = false
  const flush = () => {
    due = false
    frames.flush(outlet.write, outlet.congested)
  }
  return {
    send(slot, frame) {
      frames.put(slot, frame)
      if (due) return
      due = true
      outlet.defer(flush)
    },
    flush() {
      if (!due) frames.flush(outlet.write, outlet.congested)
    },
    clear() {
      frames.clear()
    },
  }
}
