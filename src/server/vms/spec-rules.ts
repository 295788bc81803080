// The launch rules' words and checks that the browser runs too (the launch
// form checks as the user types) and the server runs again (spec.ts): one
// source, so both say the same thing. Pure: no server-only imports.

/** A DNS label: 1-63 of a-z, 0-9 and "-", not starting or ending with "-". */
export const VM_NAME_PATTERN = /^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const VM_NAME_RULE = "Use 1-63 lowercase letters, digits and hyphens; start and end with a letter or digit.";

/** The name rule's message, or null when the name passes (after trimming, as the server does). */
export function vmNameProblem(name: string): string | null {
  return VM_NAME_PATTERN.test(name.trim()) ? null : VM_NAME_RULE;
}

export interface Bounds {
  min: number;
  max: number;
}

/** The messages for a number outside its bounds, in the server schema's words. */
export const boundMessages = (label: string, unit: string, { min, max }: Bounds) => ({
  whole: `${label} must be a whole number.`,
  min: `${label} must be at least ${min}${unit}.`,
  max: `${label} must be at most ${max}${unit}.`,
});

/** What is wrong with one spec field, or null. */
export function boundProblem(label: string, unit: string, value: number, bounds: Bounds): string | null {
  const m = boundMessages(label, unit, bounds);
  if (!Number.isInteger(value)) return m.whole;
  if (value < bounds.min) return m.min;
  if (value > bounds.max) return m.max;
  return null;
}
