/** The version of node messages this code speaks: the first word of each. */
export const NODE_PROTOCOL = "v1"

/**
 * A node message this node cannot take: `NODE_MESSAGE_REFUSED` (not one, or of another version: nodes of
 * two versions on one `keyPrefix`), `NODE_MESSAGE_FAILED` (handling it threw). Reported through the
 * server's `onError`; the node goes on.
 */
export class NodeMessageError extends Error {
  override readonly name = "NodeMessageError"
  constructor(
    readonly code: "NODE_MESSAGE_REFUSED" | "NODE_MESSAGE_FAILED",
    message: string,
    options?: { readonly cause?: unknown; readonly version?: string },
  ) {
    super(message, options)
    this.version = options?.version
  }

  /** For a message of another version: that version and its sender (reported once each). */
  readonly version: string | undefined
}

/**
 * Where refused and failed node messages go: to the listeners (`redisBroker()`: the server's `onError`),
 * or one log line each without one. A version this node does not speak is reported once per sender, not
 * once a message.
 */
export class NodeMessageReports {
  readonly #listeners = new Set<(error: NodeMessageError) => void>()
  readonly #versions = new Set<string>()

  listen(listener: (error: NodeMessageError) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  report(error: NodeMessageError): void {
    if (error.version !== undefined) {
      if (this.#versions.has(error.version)) return
      if (this.#versions.size < 1000) this.#versions.add(error.version)
    }
    if (this.#listeners.size === 0) console.error(`[switchyard] ${error.code}: ${error.message}`)
    for (const listener of [...this.#listeners]) {
      try {
        listener(error)
      } catch (hookError) {
        console.error("[switchyard] a node message error listener threw", hookError)
      }
    }
  }
}

/**
 * The text of a node message on Redis (docs/scaling.md#node-messages-and-the-directory-on-redis):
 * `v1 <from> <incarnation of from> <incarnation of the receiver> <n> <kind> <body>`. `n` counts per
 * sender→receiver incarnation; `kind` is `m` for a message (its body JSON) or `r` for a **reset**: the
 * sender lost messages between the two (it dropped some while Redis was down, or saw a jump in what it
 * heard), so both ends tell their listeners the other is gone.
 */
export interface NodeWireMessage {
  readonly from: string
  readonly incarnation: string
  /** The receiver's incarnation, as the sender knew it. */
  readonly to: string
  readonly n: number
  readonly kind: "m" | "r"
  /** JSON of the message (`m`); empty for a reset. */
  readonly body: string
}

/** The text of `message`. */
export function formatNodeMessage(message: NodeWireMessage): string {
  const { from, incarnation, to, n, kind, body } = message
  return `${NODE_PROTOCOL} ${from} ${incarnation} ${to} ${n} ${kind} ${body}`
}

/** The parts of `text`, or why it is refused. */
export function parseNodeMessage(text: string): NodeWireMessage | NodeMessageError {
  const parts = text.split(" ", 6)
  const [version = "", from = "", incarnation = "", to = "", number = "", kind = ""] = parts
  if (version !== NODE_PROTOCOL && /^v[0-9]+$/.test(version) && /^[A-Za-z0-9_-]+$/.test(from))
    return new NodeMessageError(
      "NODE_MESSAGE_REFUSED",
      `a node message of version ${version} from ${from}; this node speaks ${NODE_PROTOCOL}: nodes of two versions of the node protocol cannot share one keyPrefix`,
      { version: `${version} ${from}` },
    )
  const n = Number(number)
  if (
    parts.length < 6 ||
    version !== NODE_PROTOCOL ||
    !Number.isSafeInteger(n) ||
    n < 1 ||
    (kind !== "m" && kind !== "r")
  )
    return refused(`not a node message: ${JSON.stringify(text.slice(0, 80))}`)
  const body = text.slice(
    version.length + from.length + incarnation.length + to.length + number.length + kind.length + 6,
  )
  return { from, incarnation, to, n, kind, body }
}

function refused(message: string): NodeMessageError {
  return new NodeMessageError("NODE_MESSAGE_REFUSED", message)
}
