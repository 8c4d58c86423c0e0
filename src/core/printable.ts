// C0 and C1 controls and the Unicode line separators: what a terminal acts on or a line-based reader splits at.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A caller-chosen name (subject, team, label) as a terminal should show it: control characters as `\uXXXX`. */
export const printable = (s: string): string => s.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
