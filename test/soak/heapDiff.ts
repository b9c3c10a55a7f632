/**
 * What grew between two heap snapshots (from `npm run soak -- --heap-snapshots DIR`):
 * objects counted by type and constructor name, largest growth first.
 *
 *   node out/test/soak/heapDiff.js DIR/cycle-2.heapsnapshot DIR/cycle-40.heapsnapshot
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function census(file: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    const rawName = snap.strings[snap.nodes[i + nameAt]] ?? '';
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '' : rawName.slice(0, 60);
    const key = `${type} ${name}`;
    const entry = out.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += snap.nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}

const [a, b] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: heapDiff.js FIRST.heapsnapshot LAST.heapsnapshot');
const first = census(a);
const last = census(b);
const rows = [...last].map(([key, v]) => {
  const f = first.get(key) ?? { count: 0, size: 0 };
  return { key, count: v.count - f.count, size: v.size - f.size };
});
rows.sort((x, y) => y.size - x.size);
for (const r of rows.slice(0, 30)) console.log(`${String(r.size).padStart(9)} B ${String(r.count).padStart(7)}  ${r.key}`);
