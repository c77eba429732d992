/**
 * Intercepting a canvas property's setter while its getter stays native: how the
 * surfaces adapt contexts for Chart.js (font fallbacks) and how context-state.ts
 * tracks what was set. @napi-rs/canvas defines these accessors on prototypes, so
 * the interception is an own property of the one context or canvas.
 */

/**
 * Makes `target.property` an own accessor that reads as before and whose sets go
 * to `set`, with the original setter bound to `target` as `setNative`. Returns
 * false, changing nothing, when `required` is false and neither `target` nor its
 * prototypes have that accessor (a property an older Skia build lacks).
 */
export function interceptSetter(
  target: object,
  property: string,
  set: (value: unknown, setNative: (value: unknown) => void) => void,
  required = true,
): boolean {
  const descriptor = findAccessor(target, property);
  if (!descriptor) {
    if (required) throw new Error(`${property} has no accessor`);
    return false;
  }
  const get = descriptor.get!.bind(target) as () => unknown;
  const setNative = descriptor.set!.bind(target) as (value: unknown) => void;
  Object.defineProperty(target, property, {
    configurable: true,
    get,
    set(value: unknown) {
      set(value, setNative);
    },
  });
  return true;
}

/** The getter and setter `target` answers `property` with: its own, or the nearest prototype's. */
function findAccessor(target: object, property: string): PropertyDescriptor | undefined {
  for (let proto: object | null = target; proto; proto = Object.getPrototypeOf(proto) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, property);
    if (descriptor?.get && descriptor.set) return descriptor;
  }
  return undefined;
}
