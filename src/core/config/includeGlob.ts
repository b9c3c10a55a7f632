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

/**
 * Glob match with one backtrack point, the last `*` seen: every other token (`?`, a class,
 * a literal) takes exactly one character, so when a later `*` is reached the earlier ones
 * never need to move again. O(name x pattern) at worst; trying every split point for every
 * `*` (the recursive way) was exponential in the number of stars.
 */
function matchFrom(s: string, si: number, p: string, pi: number): boolean {
  let starPi = -1;
  let starSi = 0;
  while (si < s.length) {
    if (p[pi] === '*') {
      while (p[pi] === '*') pi++;
      if (pi === p.length) return true;
      starPi = pi;
      starSi = si;
      continue;
    }
    const next = pi < p.length ? matchOne(s[si], p, pi) : undefined;
    if (next !== undefined) {
      si++;
      pi = next;
    } else if (starPi >= 0) {
      // Let the last star take one more character and retry what follows it.
      pi = starPi;
      si = ++starSi;
    } else {
      return false;
    }
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/** Where the pattern continues when token `p[pi]` matches `ch`; undefined when it does not. */
function matchOne(ch: string, p: string, pi: number): number | undefined {
  const c = p[pi];
  if (c === '?') return pi + 1;
  if (c === '[') {
    const cls = parseClass(p, pi);
    if (cls) return cls.test(ch) ? cls.end : undefined;
    // An unterminated '[' is a literal, as in glob(3).
  }
  if (c === '\\' && pi + 1 < p.length) pi++;
  return p[pi] === ch ? pi + 1 : undefined;
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
