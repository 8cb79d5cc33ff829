import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IdentityStatus } from '../src/health/identity-status.js';
import { IDENTITY_METRIC_NAMES, IdentityMetrics } from '../src/metrics/identity.metrics.js';

// The shipped dashboard and alert rules must name exactly the metrics the code registers.
const dashboardText = readFileSync(new URL('../docs/observability/grafana-dashboard.json', import.meta.url), 'utf8');
const alertsText = readFileSync(new URL('../docs/observability/alerts.yml', import.meta.url), 'utf8');

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * The YAML subset Prometheus rule files use: block maps, block lists, plain and quoted scalars,
 * `|` / `>` block scalars, comments. Anything else (flow collections, anchors, tabs) is refused.
 */
function parseYaml(text: string): Yaml {
  if (text.includes('\t')) throw new Error('tabs are not allowed in YAML indentation');
  const lines = text.split('\n').map((raw) => ({ indent: raw.search(/\S|$/), text: raw.trim() }));
  let i = 0;
  const skip = () => {
    while (i < lines.length && (lines[i]!.text === '' || lines[i]!.text.startsWith('#'))) i++;
  };
  const fail = (problem: string): never => {
    throw new Error(`line ${i + 1}: ${problem}: ${lines[i]?.text ?? 'end of file'}`);
  };
  const isItem = (text: string) => text === '-' || text.startsWith('- ');
  const scalar = (value: string): string => {
    if (/^[[{&*!]/.test(value)) fail('flow collections, anchors and tags are not supported');
    const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(value) ?? /^'([^']*)'$/.exec(value);
    return quoted ? quoted[1]!.replace(/\\(.)/g, '$1') : value;
  };
  const blockScalar = (indent: number, style: string): string => {
    const body: string[] = [];
    while (i < lines.length && (lines[i]!.text === '' || lines[i]!.indent > indent)) body.push(lines[i++]!.text);
    while (body.at(-1) === '') body.pop();
    return style.startsWith('|') ? body.join('\n') : body.join(' ');
  };
  const node = (parentIndent: number): Yaml => {
    skip();
    const line = lines[i];
    if (!line || line.indent <= parentIndent) return fail('expected a nested block');
    return isItem(line.text) ? list(line.indent) : map(line.indent);
  };
  const list = (indent: number): Yaml[] => {
    const items: Yaml[] = [];
    for (skip(); i < lines.length && lines[i]!.indent === indent && isItem(lines[i]!.text); skip()) {
      const content = lines[i]!.text.slice(1).trim();
      if (/^[\w.-]+:(\s|$)/.test(content)) {
        lines[i] = { indent: indent + 2, text: content }; // "- key: value" opens a map at the item's indentation
        items.push(map(indent + 2));
      } else {
        i++;
        items.push(scalar(content));
      }
    }
    return items;
  };
  const map = (indent: number): Record<string, Yaml> => {
    const out: Record<string, Yaml> = {};
    for (skip(); i < lines.length && lines[i]!.indent === indent && !isItem(lines[i]!.text); skip()) {
      const entry = /^([\w.-]+):(?:\s+(.*))?$/.exec(lines[i]!.text) ?? fail('expected "key: value"');
      const [, key, rest = ''] = entry;
      if (key! in out) fail(`duplicate key ${key}`);
      i++;
      if (rest === '') out[key!] = node(indent);
      else if (/^[|>][-+]?$/.test(rest)) out[key!] = blockScalar(indent, rest);
      else out[key!] = scalar(rest);
    }
    if (i < lines.length && lines[i]!.indent > indent) fail('unexpected indentation');
    return out;
  };
  const document = node(-1);
  skip();
  if (i < lines.length) fail('unexpected content');
  return document;
}

/** What the code registers, read from a fresh registry (not from the constant alone). */
const registry = new Registry();
new IdentityMetrics(new IdentityStatus(), registry);
const registered = new Map(registry.getMetricsAsArray().map((metric) => [metric.name, metric as unknown as { labelNames?: string[]; type: string }]));
const SERIES_SUFFIXES = ['_bucket', '_sum', '_count'];
const OUTER_LABELS = ['job', 'instance', 'le'];

/** Every `identity_*` series in a PromQL expression, checked against the registry (name, histogram suffix, label names). */
function metricsIn(expr: string): string[] {
  const found: string[] = [];
  for (const match of expr.matchAll(/\b(identity_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
    const series = match[1]!;
    const suffix = SERIES_SUFFIXES.find((s) => series.endsWith(s) && registered.get(series.slice(0, -s.length))?.type === 'histogram');
    const name = suffix ? series.slice(0, -suffix.length) : series;
    expect(registered.has(name), `${series} in "${expr}" is not a registered metric`).toBe(true);
    const allowed = [...(registered.get(name)!.labelNames ?? []), ...OUTER_LABELS];
    for (const [, label] of (match[3] ?? '').matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
      expect(allowed, `label ${label} of ${name} in "${expr}"`).toContain(label);
    }
    found.push(name);
  }
  return found;
}

function expectBalanced(expr: string): void {
  const closing: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (const char of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ('([{'.includes(char)) stack.push(char);
    else if (char in closing) expect(stack.pop(), `unbalanced ${char} in "${expr}"`).toBe(closing[char]);
  }
  expect(stack, `unclosed brackets in "${expr}"`).toEqual([]);
}

describe('observability docs', () => {
  it('IDENTITY_METRIC_NAMES is exactly what IdentityMetrics registers', () => {
    expect([...registered.keys()].sort()).toEqual([...IDENTITY_METRIC_NAMES].sort());
    expect(registered.get('identity_jwks_refresh_total')!.labelNames).toEqual(['trigger', 'status']);
  });

  it('the mini YAML parser reads maps, lists, quotes and block scalars, and refuses what it does not know', () => {
    expect(parseYaml('a: 1\nb:\n  - x: "q: \\"y\\""\n    z: |\n      l1\n      l2\n  - plain\nc: >-\n  one\n  two\n')).toEqual({
      a: '1',
      b: [{ x: 'q: "y"', z: 'l1\nl2' }, 'plain'],
      c: 'one two',
    });
    expect(() => parseYaml('a: [1, 2]\n')).toThrow(/flow/);
    expect(() => parseYaml('a: 1\n   b: 2\n')).toThrow(/indentation/);
    expect(() => parseYaml('a: 1\na: 2\n')).toThrow(/duplicate/);
  });

  it('alerts.yml is a valid Prometheus rule file covering every metric and the required alerts', () => {
    const document = parseYaml(alertsText) as { groups: Array<{ name: string; rules: Array<Record<string, Yaml>> }> };
    expect(Array.isArray(document.groups)).toBe(true);
    const rules = document.groups.flatMap((group) => {
      expect(group.name).toMatch(/\S/);
      expect(Array.isArray(group.rules)).toBe(true);
      return group.rules;
    });
    const names = rules.map((rule) => rule.alert as string);
    expect(new Set(names).size).toBe(names.length);
    const covered = new Set<string>();
    for (const rule of rules) {
      expect(Object.keys(rule).sort()).toEqual(['alert', 'annotations', 'expr', 'for', 'labels']);
      expect(rule.alert).toMatch(/^Identity[A-Za-z]+$/);
      expect(rule.for).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info']).toContain((rule.labels as Record<string, string>).severity);
      const annotations = rule.annotations as Record<string, string>;
      expect(annotations.summary).toMatch(/\S/);
      expect(annotations.description).toMatch(/\S/);
      const expr = rule.expr as string;
      expectBalanced(expr);
      const used = metricsIn(expr);
      expect(used.length, `${String(rule.alert)} uses no identity metric`).toBeGreaterThan(0);
      for (const name of used) covered.add(name);
    }
    expect(names).toEqual(
      expect.arrayContaining(['IdentityProviderDown', 'IdentityMetadataStale', 'IdentityJwksRefreshErrors', 'IdentityTokenExchangeFailures', 'IdentityRejectedTokensSpike']),
    );
    expect([...covered].sort()).toEqual([...IDENTITY_METRIC_NAMES].sort());
  });

  it('grafana-dashboard.json is an importable dashboard with a panel for every metric', () => {
    const dashboard = JSON.parse(dashboardText) as {
      title: string;
      uid: string;
      schemaVersion: number;
      templating: { list: Array<{ name: string; type: string; query?: unknown }> };
      panels: Array<{ id: number; type: string; title: string; gridPos: Record<string, number>; datasource?: { uid: string }; targets?: Array<{ expr: string; refId: string; datasource: { uid: string } }> }>;
    };
    expect(dashboard).toMatchObject({ title: expect.any(String), uid: expect.stringMatching(/^[\w-]{1,40}$/), schemaVersion: expect.any(Number) });
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const covered = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.gridPos).toEqual({ x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) });
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      expect(panel.title).toMatch(/\S/);
      expect(panel.datasource?.uid).toBe('${datasource}');
      expect(panel.targets?.length).toBeGreaterThan(0);
      const refIds = panel.targets!.map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const target of panel.targets!) {
        expect(target.datasource.uid).toBe('${datasource}');
        expectBalanced(target.expr);
        for (const name of metricsIn(target.expr)) covered.add(name);
      }
    }
    expect([...covered].sort()).toEqual([...IDENTITY_METRIC_NAMES].sort());
  });
});
