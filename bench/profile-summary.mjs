// Summarises a V8 .cpuprofile (from `node bench/run.mjs --profile fastify/module-1`):
//   node bench/profile-summary.mjs bench/profiles/<file>.cpuprofile [--top 40] [--filter text]
// Prints the functions with the most self time and the most inclusive time (each function
// counted once per sample, however deep it recurses), in % of the samples taken while busy.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, filter: { type: 'string' } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [--top N] [--filter text]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const top = Number.parseInt(values.top, 10);

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const shortUrl = (url) => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/').replace(/^.*\/work\/main\//, '');
const label = (node) => {
  const f = node.callFrame;
  return `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
};

const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const idle = new Set(['(idle)', '(program)', '(garbage collector)']);
let busy = 0;
let gc = 0;
const self = new Map();
const inclusive = new Map();
for (const [id, count] of counts) {
  const node = byId.get(id);
  const name = node.callFrame.functionName;
  if (name === '(garbage collector)') gc += count;
  if (name === '(idle)') continue;
  busy += count;
  const key = label(node);
  self.set(key, (self.get(key) ?? 0) + count);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const k = label(byId.get(at));
    if (seen.has(k) || idle.has(byId.get(at).callFrame.functionName) || k === '(root)') continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + count);
  }
}

const pct = (n) => `${((n / busy) * 100).toFixed(1).padStart(5)}%`;
const show = (title, map) => {
  console.log(`\n${title}`);
  const rows = [...map].filter(([k]) => !values.filter || k.includes(values.filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, n] of rows) console.log(`${pct(n)}  ${k}`);
};
console.log(`${busy} busy samples (${gc} in GC = ${pct(gc).trim()})`);
show('Self time', self);
show('Inclusive time', inclusive);
