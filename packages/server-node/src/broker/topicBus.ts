import type { TopicPosition } from "@switchyard/core"

/** The server limits that bound topic history (`docs/limits.md`). */
export interface HistoryLimits {
  readonly topicHistorySize: number
  readonly topicHistoryTtlMs: number
}

/** Where a key's stream stands, as the broker keeps it, and what a subscriber missed. */
export interface StreamRead {
  /** The stream's epoch: one history of the key, made anew when the history was lost. */
  readonly epoch: string
  /** Offset of the key's newest publication (0 before the first). */
  readonly offset: number
  /**
   * The messages (JSON text) after the position asked for, oldest first (offsets `since + 1` to `offset`);
   * `undefined` when none was asked for, or when the history cannot cover it (another epoch, publications
   * already dropped, or an offset the stream never reached).
   */
  readonly after: readonly string[] | undefined
}

/**
 * What a node gives the broker for topic traffic: the server's topic registry. The broker calls
 * `deliver` for every publication of a key the node listens to, once per offset and in offset order.
 */
export interface TopicSink {
  /** The history bounds of a topic, `undefined` when it keeps none (unreliable, or `topicHistorySize: 0`). */
  history(topic: string): HistoryLimits | undefined
  /**
   * One publication. `offset` is 0 and `epoch` `undefined` for a topic without history. An offset that
   * skips some says that they are lost (the broker could not recover them); an epoch unlike the one
   * before says that the key's history was lost.
   */
  deliver(topic: string, key: string, json: string, offset: number, epoch: string | undefined): void
}

/**
 * The topics part of a broker, as one node sees it: the broker numbers every publication of a key (the
 * offset, in one order for every node), keeps the key's history, and delivers each publication to every
 * node that listens to the key. An engine that can answer at once (the memory broker) returns plain
 * values, so that one node stays synchronous; a remote one returns promises.
 */
export interface TopicBus {
  /**
   * From now on, deliver the key's publications to this node (its first local subscriber). A remote
   * broker returns a promise, resolved once the node receives what is published to the key.
   */
  listen(topic: string, key: string): void | Promise<void>
  /** Stop delivering them (its last local subscriber left). */
  unlisten(topic: string, key: string): void
  /**
   * Publishes a message already validated and serialised. Resolves (or returns) once the broker has
   * numbered it and, when this node listens to the key, delivered it here; rejects with a
   * `BROKER_UNAVAILABLE` `SwitchyardError` when the broker cannot take it.
   */
  publish(topic: string, key: string, json: string): void | Promise<void>
  /**
   * Where the stream of a key with history stands, and what came after `since`. Called by a node that
   * listens to the key: every publication after the returned offset is delivered to it afterwards.
   */
  read(topic: string, key: string, since: TopicPosition | null): StreamRead | Promise<StreamRead>
}
