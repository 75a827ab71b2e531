import { body, type CompiledTopic, ContractError, stringifyPayload } from "@switchyard/core"

/** A subscriber as the registry sees it: something that takes one encoded MESSAGE body. */
export interface Subscriber {
  deliver(messageBody: string): void
}

/**
 * Local fan-out of topic messages. A message is validated and serialised once per publish; each
 * subscriber gets the same body text and only adds its own sequence number. Delivery is synchronous and
 * in publish order, so every subscriber of a key sees one order.
 */
export class TopicRegistry {
  private readonly keys = new Map<string, Map<string, Set<Subscriber>>>()

  subscribe(topic: string, key: string, subscriber: Subscriber): void {
    let byKey = this.keys.get(topic)
    if (!byKey) {
      byKey = new Map()
      this.keys.set(topic, byKey)
    }
    let set = byKey.get(key)
    if (!set) {
      set = new Set()
      byKey.set(key, set)
    }
    set.add(subscriber)
  }

  unsubscribe(topic: string, key: string, subscriber: Subscriber): void {
    const byKey = this.keys.get(topic)
    const set = byKey?.get(key)
    if (!set) return
    set.delete(subscriber)
    if (set.size === 0) byKey?.delete(key)
  }

  /** Subscribers of one key, for tests and metrics. */
  count(topic: string, key: string): number {
    return this.keys.get(topic)?.get(key)?.size ?? 0
  }

  /**
   * Validates, encodes once and fans out. Throws `INVALID_INPUT` when the message does not match the
   * topic's schema.
   */
  publish(channel: CompiledTopic, key: string, message: unknown): void {
    const encoded = channel.message.encode(message)
    const json = encoded.ok ? stringifyPayload(encoded.value) : undefined
    if (json === undefined) {
      const why = encoded.ok ? "it cannot be serialised as JSON" : encoded.error
      throw new ContractError("INVALID_INPUT", `topic ${channel.name}: invalid message: ${why}`)
    }
    this.publishEncoded(channel.name, key, json)
  }

  /** Fans out a message already validated and serialised. */
  publishEncoded(topic: string, key: string, json: string): void {
    const set = this.keys.get(topic)?.get(key)
    if (!set || set.size === 0) return
    const messageBody = body.message(topic, key, json)
    for (const subscriber of set) subscriber.deliver(messageBody)
  }
}
