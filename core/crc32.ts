/**
 * CRC-32C (Castagnoli), the checksum of every durable record: WAL records,
 * snapshot files and state-machine snapshots. Pure and table-driven.
 *
 * @module
 */

const POLYNOMIAL_REVERSED = 0x82f63b78;

/** Sixteen tables of 256 entries: table k advances a byte that is k positions further back. */
const TABLES: Uint32Array = (() => {
  const tables = new Uint32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REVERSED : c >>> 1;
    tables[n] = c >>> 0;
  }
  for (let k = 1; k < 16; k++) {
    for (let n = 0; n < 256; n++) {
      const previous = tables[(k - 1) * 256 + n];
      tables[k * 256 + n] = (previous >>> 8) ^ tables[previous & 0xff];
    }
  }
  return tables;
})();

/** Ranges at least this long are read as 32-bit words (a view costs more on short ones). */
const WORDS_MIN_BYTES = 256;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Returns the CRC-32C of `bytes`, continuing from `previous` (the CRC of the
 * bytes before them) so a checksum can be computed over several pieces.
 * Slicing-by-16 on long ranges, by-8 on short ones, the tail byte by byte.
 *
 * @example
 * ```ts
 * import { crc32c } from "@safla/core";
 * const bytes = new TextEncoder().encode("123456789");
 * console.assert(crc32c(bytes) === 0xe3069283);
 * ```
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  return crc32cRange(bytes, 0, bytes.length, previous);
}

/**
 * The CRC-32C of `bytes[start..end)`, continuing from `previous`: the same as
 * `crc32c(bytes.subarray(start, end), previous)` without making the view
 * (record formats check many small ranges of one buffer).
 *
 * @example
 * ```ts
 * import { crc32c, crc32cRange } from "@safla/core";
 * const bytes = new TextEncoder().encode("x123456789y");
 * console.assert(crc32cRange(bytes, 1, 10) === crc32c(bytes.subarray(1, 10)));
 * ```
 */
export function crc32cRange(bytes: Uint8Array, start: number, end: number, previous = 0): number {
  if (!(start >= 0 && start <= end && end <= bytes.length)) {
    throw new RangeError(`crc32cRange: [${start}, ${end}) is outside ${bytes.length} bytes`);
  }
  let crc = ~previous >>> 0;
  let i = start;
  if (end - start >= WORDS_MIN_BYTES && HOST_LITTLE_ENDIAN) {
    // Up to a 4-byte boundary byte by byte, then slicing-by-16 over four 32-bit loads per
    // step (the loads are little-endian like the bytes): only the first word depends on the
    // previous step, which is what makes it faster than eight bytes per step.
    for (; ((bytes.byteOffset + i) & 3) !== 0; i++) {
      crc = TABLES[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    }
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, ((end - i) >>> 4) << 2);
    const wordCount = words.length;
    for (let w = 0; w < wordCount; w += 4) {
      const a = crc ^ words[w];
      const b = words[w + 1];
      const c = words[w + 2];
      const d = words[w + 3];
      crc = TABLES[3840 + (a & 0xff)] ^ TABLES[3584 + ((a >>> 8) & 0xff)] ^
        TABLES[3328 + ((a >>> 16) & 0xff)] ^ TABLES[3072 + (a >>> 24)] ^
        TABLES[2816 + (b & 0xff)] ^ TABLES[2560 + ((b >>> 8) & 0xff)] ^
        TABLES[2304 + ((b >>> 16) & 0xff)] ^ TABLES[2048 + (b >>> 24)] ^
        TABLES[1792 + (c & 0xff)] ^ TABLES[1536 + ((c >>> 8) & 0xff)] ^
        TABLES[1280 + ((c >>> 16) & 0xff)] ^ TABLES[1024 + (c >>> 24)] ^
        TABLES[768 + (d & 0xff)] ^ TABLES[512 + ((d >>> 8) & 0xff)] ^
        TABLES[256 + ((d >>> 16) & 0xff)] ^ TABLES[d >>> 24];
    }
    i += wordCount * 4;
  }
  for (const last8 = end - 8; i <= last8; i += 8) {
    const low = crc ^
      (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc = TABLES[1792 + (low & 0xff)] ^ TABLES[1536 + ((low >>> 8) & 0xff)] ^
      TABLES[1280 + ((low >>> 16) & 0xff)] ^ TABLES[1024 + (low >>> 24)] ^
      TABLES[768 + bytes[i + 4]] ^ TABLES[512 + bytes[i + 5]] ^ TABLES[256 + bytes[i + 6]] ^
      TABLES[bytes[i + 7]];
  }
  for (; i < end; i++) crc = TABLES[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
