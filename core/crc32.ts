/**
 * CRC-32C (Castagnoli), the checksum of every durable record: WAL records,
 * snapshot files and state-machine snapshots. Pure and table-driven.
 *
 * @module
 */

const POLYNOMIAL_REVERSED = 0x82f63b78;

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REVERSED : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Returns the CRC-32C of `bytes`, continuing from `previous` (the CRC of the
 * bytes before them) so a checksum can be computed over several pieces.
 *
 * @example
 * ```ts
 * import { crc32c } from "@safla/core";
 * const bytes = new TextEncoder().encode("123456789");
 * console.assert(crc32c(bytes) === 0xe3069283);
 * ```
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
