// What a heap holds more of in a second snapshot than in a first, grouped by constructor (by node type and
// name for closures, strings, arrays, …), per connection: the self size of each group and how many
// objects it adds. For the idle-memory run's snapshots (BENCH_IDLE_SNAPSHOTS=<dir> node idle.mjs).
// Usage: node heapDiff.mjs <before.heapsnapshot> <after.heapsnapshot> <connections> [rows, default 40]
import { readFileSync } from "node:fs"

const [beforePath, afterPath, countArg, rowsArg] = process.argv.slice(2)
if (!beforePath || !afterPath || !countArg) {
  console.error("usage: node heapDiff.mjs <before.heapsnapshot> <after.heapsnapshot> <connections> [rows]")
  process.exit(2)
}
const count = Number(countArg)
const rows = Number(rowsArg ?? 40)

/** Self size and object count per group of one snapshot. */
function groups(path) {
  const snapshot = JSON.parse(readFileSync(path, "utf8"))
  const { node_fields: fields, node_types: types } = snapshot.snapshot.meta
  const width = fields.length
  const typeAt = fields.indexOf("type")
  const nameAt = fields.indexOf("name")
  const sizeAt = fields.indexOf("self_size")
  const typeNames = types[typeAt]
  const { nodes, strings } = snapshot
  const out = new Map()
  for (let i = 0; i < nodes.length; i += width) {
    const type = typeNames[nodes[i + typeAt]]
    const name = strings[nodes[i + nameAt]]
    // Object nodes are named by their constructor; the rest by type (and name where it says what it is).
    const key =
      type === "object" || type === "closure" || type === "native" || type === "hidden"
        ? `${type} ${name.length > 60 ? `${name.slice(0, 57)}...` : name}`
        : type
    const group = out.get(key) ?? { size: 0, objects: 0 }
    group.size += nodes[i + sizeAt]
    group.objects++
    out.set(key, group)
  }
  return out
}

const before = groups(beforePath)
const after = groups(afterPath)
const diff = [...after].map(([key, a]) => {
  const b = before.get(key) ?? { size: 0, objects: 0 }
  return { key, size: (a.size - b.size) / count, objects: (a.objects - b.objects) / count }
})
diff.sort((x, y) => y.size - x.size)
const total = diff.reduce((sum, d) => sum + d.size, 0)
console.log(`self size per connection, after − before, ${count} connections: ${total.toFixed(0)} bytes in all`)
console.log("bytes/conn  objects/conn  group")
for (const d of diff.slice(0, rows)) {
  console.log(`${d.size.toFixed(1).padStart(10)}  ${d.objects.toFixed(2).padStart(12)}  ${d.key}`)
}
