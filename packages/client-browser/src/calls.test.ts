import type { SwitchyardError } from "@switchyard/core"
import { describe, expect, it } from "vitest"
import { type Pending, PendingTable } from "./calls.ts"

const entry = (id: number): Pending => ({
  id,
  kind: "rpc",
  seq: id,
  frameType: 1,
  frameBody: "",
  output: undefined,
  error: undefined,
  resolve: () => {},
  reject: (_: SwitchyardError) => {},
})

describe("PendingTable", () => {
  it("finds, deletes and lists requests by id, in the order they were made", () => {
    const table = new PendingTable()
    for (const id of [1, 2, 3]) table.set(entry(id))
    expect(table.get(2)?.id).toBe(2)
    table.delete(2)
    expect(table.get(2)).toBeUndefined()
    expect(table.list().map((e) => e.id)).toEqual([1, 3])
  })

  it("keeps a request whose slot an older one still holds, and both stay reachable", () => {
    const table = new PendingTable()
    const old = entry(5)
    table.set(old)
    // 1029 shares slot 5 with the request still waiting there.
    table.set(entry(1029))
    table.set(entry(2053))
    expect(table.get(5)).toBe(old)
    expect(table.get(1029)?.id).toBe(1029)
    expect(table.get(2053)?.id).toBe(2053)
    expect(table.list().map((e) => e.id)).toEqual([5, 1029, 2053])
    table.delete(5)
    expect(table.get(5)).toBeUndefined()
    expect(table.get(1029)?.id).toBe(1029)
    table.delete(1029)
    table.delete(2053)
    expect(table.list()).toEqual([])
    // The freed slot takes the next request of that slot.
    table.set(entry(3077))
    expect(table.get(3077)?.id).toBe(3077)
  })

  it("holds many requests in flight at once", () => {
    const table = new PendingTable()
    for (let id = 1; id <= 5000; id++) table.set(entry(id))
    for (let id = 1; id <= 5000; id += 2) table.delete(id)
    const left = table.list().map((e) => e.id)
    expect(left).toHaveLength(2500)
    expect(left[0]).toBe(2)
    expect(left.at(-1)).toBe(5000)
    for (let id = 2; id <= 5000; id += 2) expect(table.get(id)?.id).toBe(id)
  })
})
