/**
 * Glob matching for model scopes: `*` is any run of characters (including `/` and `:`), `?` is one character,
 * everything else is literal. A hand-written matcher rather than a RegExp: model names and scopes come from
 * clients and tokens, and the two-pointer algorithm is O(pattern × name) with no catastrophic backtracking.
 */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    const pc = pattern[p];
    if (pc === '*') {
      starP = p++;
      starN = n;
    } else if (pc !== undefined && (pc === '?' || pc === name[n])) {
      p++;
      n++;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
