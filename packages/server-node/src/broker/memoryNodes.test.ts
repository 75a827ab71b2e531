import { describe, expect, it } from "vitest"
import { memoryCluster } from "./memoryBroker.ts"

describe("memoryCluster()", () => {
  it("refuses a node id that would break relaying (a '.' ends the node id in a link id)", () => {
    const cluster = memoryCluster()
    expect(() => cluster.broker("a.b")).toThrow(
      'a node id is letters, digits, - and _ (it starts each HTTP link id, before a "."): "a.b"',
    )
    expect(() => cluster.broker("")).toThrow("a node id is letters")
    expect(cluster.broker("node_A-1").nodes?.nodeId).toBe("node_A-1")
  })
})
