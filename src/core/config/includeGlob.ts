/**
 * glob(3) for Include patterns (`~/.ssh/config.d/*`). Node 20 has no fs.glob, and a
 * dependency for ~40 lines is not worth it. Supports `*`, `?` and `[...]` in any path
 * segment; like glob(3), wildcards never match a leading dot and results are sorted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function hasMagic(segment: string): boolean {
  return /[*?[]/.test(segment);
}

/** Match one path segment against one glob segment. */
export function matchGlobSegment(name: string, pattern: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.')) return false;
  return matchFrom(name, 0, pattern, 0);
}

function matchFrom(s: string, si: number, p: string, pi: number): boolean {
  while (pi < p.length) {
    const c = p[pi];
    if (c === '*') {
      // Collapse runs of '*' and try every split point; segments are short.
      while (p[pi] === '*') pi++;
      if (pi === p.length) return true;
      for (let k = si; k <= s.length; k++) if (matchFrom(s, k, p, pi)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      si++;
      pi++;
      continue;
    }
    if (c === '[') {
      const cls = parseClass(p, pi);
      if (cls) {
        if (!cls.test(s[si])) return false;
        si++;
        pi = cls.end;
        continue;
      }
      // An unterminated '[' is a literal, as in glob(3).
    }
    if (c === '\\' && pi + 1 < p.length) pi++;
    if (p[pi] !== s[si]) return false;
    si++;
    pi++;
  }
  return si === s.length;
}

function parseClass(p: string, start: number): { test: (ch: string) => boolean; end: number } | undefined {
  let i = start + 1;
  const negate = p[i] === '!' || p[i] === '^';
  if (negate) i++;
  const ranges: Array<[string, string]> = [];
  let first = true;
  while (i < p.length && (p[i] !== ']' || first)) {
    first = false;
    const lo = p[i];
    if (p[i + 1] === '-' && i + 2 < p.length && p[i + 2] !== ']') {
      ranges.push([lo, p[i + 2]]);
      i += 3;
    } else {
      ranges.push([lo, lo]);
      i++;
    }
  }
  if (i >= p.length) return undefined;
  const test = (ch: string): boolean => ranges.some(([lo, hi]) => ch >= lo && ch <= hi) !== negate;
  return { test, end: i + 1 };
}

/**
 * All existing paths matching an absolute pattern, sorted. A pattern without wildcards
 * is returned as-is when it exists (the caller decides what to do with a directory).
 */
export function globPaths(pattern: string): string[] {
  const root = path.parse(pattern).root;
  const segments = pattern
    .slice(root.length)
    .split(path.sep)
    .filter((s) => s !== '');
  let current = [root];
  for (const segment of segments) {
    const next: string[] = [];
    for (const dir of current) {
      if (!hasMagic(segment)) {
        next.push(path.join(dir, segment));
        continue;
      }
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue; // not a directory or unreadable: no match, as glob(3) with no GLOB_ERR
      }
      for (const name of names) if (matchGlobSegment(name, segment)) next.push(path.join(dir, name));
    }
    current = next;
  }
  return current.filter((p) => fs.existsSync(p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
