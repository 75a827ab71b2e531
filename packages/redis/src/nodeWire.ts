/**
 * The text of a node message on Redis (docs/scaling.md#node-messages-and-the-directory-on-redis):
 * `<from> <incarnation of from> <incarnation of the receiver> <n> <kind> <body>`. `n` counts per
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
  return `${from} ${incarnation} ${to} ${n} ${kind} ${body}`
}

/** The parts of `text`, or `undefined` when it is not a node message. */
export function parseNodeMessage(text: string): NodeWireMessage | undefined {
  const parts = text.split(" ", 5)
  if (parts.length < 5) return undefined
  const [from = "", incarnation = "", to = "", number = "", kind = ""] = parts
  const n = Number(number)
  if (!Number.isSafeInteger(n) || n < 1 || (kind !== "m" && kind !== "r")) return undefined
  const body = text.slice(from.length + incarnation.length + to.length + number.length + kind.length + 5)
  return { from, incarnation, to, n, kind, body }
}
