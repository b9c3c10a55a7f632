/**
 * OpenSSH pattern matching (ssh_config(5) "PATTERNS", match.c), shared by Host/Match
 * evaluation and known_hosts lookups. Written by hand rather than via RegExp so that no
 * character in a pattern can turn into regex syntax.
 */

/**
 * `*` matches any run of characters (including none), `?` exactly one. Case-insensitive,
 * because ssh lowercases host names before matching and known_hosts entries are matched
 * the same way.
 */
export function matchPattern(text: string, pattern: string): boolean {
  const s = text.toLowerCase();
  const p = pattern.toLowerCase();
  // Iterative glob with single backtrack point: linear-ish, no recursion blow-up on "****a".
  let si = 0;
  let pi = 0;
  let starPi = -1;
  let starSi = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === s[si]))) {
      si++;
      pi++;
    } else if (pi < p.length && p[pi] === '*') {
      starPi = pi++;
      starSi = si;
    } else if (starPi >= 0) {
      pi = starPi + 1;
      si = ++starSi;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** Result of a pattern list: a negated entry that matches vetoes the whole list. */
export type ListMatch = 'match' | 'negated' | 'none';

/**
 * Match against a list of patterns (each may start with `!`), as match_pattern_list()
 * does: any matching negated pattern wins over every positive one, in any order.
 */
export function matchPatternList(text: string, patterns: readonly string[]): ListMatch {
  let result: ListMatch = 'none';
  for (const raw of patterns) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!matchPattern(text, pattern)) continue;
    if (negated) return 'negated';
    result = 'match';
  }
  return result;
}

/** Split a comma-separated pattern list ("a,b,!c"), dropping empty entries. */
export function splitPatternList(list: string): string[] {
  return list.split(',').filter((p) => p !== '');
}

/** True when a pattern names exactly one host (usable as an alias in a host picker). */
export function isConcretePattern(pattern: string): boolean {
  return pattern !== '' && !pattern.startsWith('!') && !/[*?]/.test(pattern);
}
