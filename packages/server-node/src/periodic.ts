/** The entries of one period, in the order they are due, and the one timer that serves them. */
interface PeriodList {
  readonly ms: number
  head: Periodic | undefined
  tail: Periodic | undefined
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The lists that have entries, by period. */
const lists = new Map<number, PeriodList>()

/**
 * Work repeated every `periodMs` for many owners at once (a heartbeat per session, a keep-alive per SSE
 * stream) on one timer per period instead of a `setInterval` per owner. An owner is an entry of an
 * intrusive list kept in the order it is due: every entry of a list has the same period, so an entry that
 * has run goes to the back. This is how Node lists its own timers; here an idle owner costs four fields
 * instead of a `Timeout`, its callback and the callback's context (docs/performance.md#idle-connections).
 *
 * Timing is that of `setInterval`: an entry runs `periodMs` after `startPeriod`, then every `periodMs`
 * after it last ran (to the millisecond), on the monotonic clock. The timer is unref'd.
 */
export abstract class Periodic {
  private list: PeriodList | undefined = undefined
  private previous: Periodic | undefined = undefined
  private next: Periodic | undefined = undefined
  /**
   * When it runs next: `performance.now()` rounded up to the millisecond, so that it stays a small
   * integer (a double would be a heap number of its own on each entry).
   */
  private due = 0

  /** Runs once a period while started. It may stop or restart this entry, or any other. */
  protected abstract onPeriod(): void

  /** Starts (or restarts) it: it runs `periodMs` from now, then every `periodMs`. */
  protected startPeriod(periodMs: number): void {
    this.stopPeriod()
    const ms = Math.max(1, periodMs)
    let list = lists.get(ms)
    if (!list) {
      list = { ms, head: undefined, tail: undefined, timer: undefined }
      lists.set(ms, list)
    }
    this.due = Math.ceil(performance.now() + ms)
    Periodic.append(list, this)
    if (list.timer === undefined) Periodic.arm(list)
  }

  /** Stops it: a stopped entry is in no list. */
  protected stopPeriod(): void {
    const { list } = this
    if (!list) return
    Periodic.unlink(list, this)
    // The timer stays armed for the entry that was first and re-arms for the next one then; a list left
    // empty goes, with its timer.
    if (list.head === undefined) {
      if (list.timer !== undefined) clearTimeout(list.timer)
      Periodic.drop(list)
    }
  }

  /** Runs the entries of `list` that are due, each moved to the back first, then arms the timer again. */
  private static fire(this: void, list: PeriodList): void {
    list.timer = undefined
    const now = performance.now()
    for (let entry = list.head; entry !== undefined && entry.due <= now; entry = list.head) {
      Periodic.unlink(list, entry)
      entry.due = Math.ceil(now + list.ms)
      Periodic.append(list, entry)
      entry.onPeriod()
    }
    if (list.head === undefined) Periodic.drop(list)
    else if (list.timer === undefined) Periodic.arm(list)
  }

  /** Forgets an empty list (unless a new list of its period has taken its place meanwhile). */
  private static drop(list: PeriodList): void {
    if (lists.get(list.ms) === list) lists.delete(list.ms)
  }

  private static arm(list: PeriodList): void {
    const { head } = list
    if (!head) return
    list.timer = setTimeout(Periodic.fire, Math.max(1, Math.ceil(head.due - performance.now())), list)
    list.timer.unref()
  }

  private static append(list: PeriodList, entry: Periodic): void {
    entry.list = list
    entry.previous = list.tail
    entry.next = undefined
    if (list.tail) list.tail.next = entry
    else list.head = entry
    list.tail = entry
  }

  private static unlink(list: PeriodList, entry: Periodic): void {
    if (entry.previous) entry.previous.next = entry.next
    else list.head = entry.next
    if (entry.next) entry.next.previous = entry.previous
    else list.tail = entry.previous
    entry.list = entry.previous = entry.next = undefined
  }
}
