// All-zero detection for blocks read from devices (files' holes are skipped before reading).

const ZERO = Buffer.alloc(64 * 1024);

/** True when every byte is zero; exits at the first non-zero 64 KiB chunk, so data blocks cost almost nothing. */
export function isZero(b: Buffer): boolean {
  if (b.length === 0) return true;
  if (b[0] !== 0 || b[b.length - 1] !== 0) return false;
  for (let at = 0; at < b.length; at += ZERO.length) {
    const end = Math.min(at + ZERO.length, b.length);
    if (b.compare(ZERO, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}
