/**
 * Options merged over their defaults without letting `undefined` through.
 *
 * `{ ...DEFAULTS, ...options }` copies a field that is present but
 * `undefined` (an optional flag passed straight through) over its default:
 * the WAL's segment size became `undefined` that way and segments were never
 * cut. {@link withDefaults} is the one merge every options object goes
 * through.
 *
 * @module
 */

/**
 * `defaults` with every field of `options` that is not `undefined` laid over
 * it; fields without a default are copied when defined.
 *
 * @example
 * ```ts
 * import { withDefaults } from "@safla/core";
 * const o = withDefaults({ sizeBytes: 64 }, { sizeBytes: undefined, name: "a" });
 * console.assert(o.sizeBytes === 64 && o.name === "a");
 * ```
 */
export function withDefaults<D extends object, O extends object>(
  defaults: Readonly<D>,
  options: O | undefined,
): D & Omit<O, keyof D> {
  const merged: Record<string, unknown> = { ...defaults };
  if (options !== undefined) {
    for (const [name, value] of Object.entries(options)) {
      if (value !== undefined) merged[name] = value;
    }
  }
  return merged as D & Omit<O, keyof D>;
}
