/**
 * OpenSSH pattern matching (ssh_config(5) "PATTERNS", match.c), shared by Host/Match
 * evaluation and known_hosts lookups. Written by hand rather than via RegExp so that no
 * character in a pattern can turn into regex syntax.
 */

/** How a list is matched: ssh's match_hostname() lowercases both sides, match_pattern() does not. */
export type PatternCase = 'ignore-case' | 'exact-case';

/**
 * `*` matches any run of characters (including none), `?` exactly one. Case-insensitive
 * by default, as match_hostname() (known_hosts, `Match host`); `Host` lines and user
 * names are matched exactly, as ssh's match_pattern() does.
 */
export function matchPattern(text: string, pattern: string, letterCase: PatternCase = 'ignore-case'): boolean {
  const s = letterCase === 'ignore-case' ? text.toLowerCase() : text;
  const p = letterCase === 'ignore-case' ? pattern.toLowerCase() : pattern;
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
export function matchPatternList(text: string, patterns: readonly string[], letterCase: PatternCase = 'ignore-case'): ListMatch {
  let result: ListMatch = 'none';
  for (const raw of patterns) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!matchPattern(text, pattern, letterCase)) continue;
    if (negated) return 'negated';
    result = 'match';
  }
  return result;
}

/** Split a comma-separated pattern list ("a,b,!c"), dropping empty entries. */
export function splitPatternList(list: string): string[] {
  return list.split(',').filter((p) => p !== '');
}

/**
 * True when a pattern names exactly one host (usable as an alias in a host picker). A
 * comma is literal on a Host line, and ssh refuses a destination containing one.
 */
export function isConcretePattern(pattern: string): boolean {
  return pattern !== '' && !pattern.startsWith('!') && !/[*?,]/.test(pattern);
}
