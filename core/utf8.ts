/**
 * Strict UTF-8 decoding for the record formats (WAL, snapshots, commands),
 * tuned for the short, mostly ASCII strings they hold.
 *
 * @module
 */

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
/** Bytes up to which ASCII is decoded in JavaScript (the native call costs ~100 ns). */
const SHORT_DECODE_BYTES = 16;
const REPLACEMENT_CHARACTER = "\uFFFD";

/**
 * Decodes UTF-8 `bytes[start..end)` strictly (undefined if they are not valid UTF-8). A
 * leading byte-order mark is kept as text: it is part of the string that was
 * encoded.
 *
 * The lenient native decoder is several times faster than the strict one; it
 * turns an invalid sequence into U+FFFD, so only output holding U+FFFD (an
 * error, or a replacement character that was really there) is decoded again
 * strictly. Short ASCII is converted in JavaScript.
 */
export function decodeUtf8(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): string | undefined {
  if (!(start >= 0 && start <= end && end <= bytes.length)) {
    throw new RangeError(`decodeUtf8: [${start}, ${end}) is outside ${bytes.length} bytes`);
  }
  if (end - start <= SHORT_DECODE_BYTES) {
    let text = "";
    let i = start;
    for (; i + 8 <= end; i += 8) {
      const b0 = bytes[i], b1 = bytes[i + 1], b2 = bytes[i + 2], b3 = bytes[i + 3];
      const b4 = bytes[i + 4], b5 = bytes[i + 5], b6 = bytes[i + 6], b7 = bytes[i + 7];
      if ((b0 | b1 | b2 | b3 | b4 | b5 | b6 | b7) & 0x80) break;
      text += String.fromCharCode(b0, b1, b2, b3, b4, b5, b6, b7);
    }
    for (; i < end; i++) {
      const b = bytes[i];
      if (b & 0x80) break;
      text += String.fromCharCode(b);
    }
    if (i === end) return text;
  }
  const range = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  const text = lenientDecoder.decode(range);
  if (!text.includes(REPLACEMENT_CHARACTER)) return text;
  try {
    return strictDecoder.decode(range);
  } catch {
    return undefined;
  }
}
