/**
 * The write-ahead log format and its recovery, pure so that the real disk and
 * the simulated disk recover through the same code.
 *
 * @module
 */
export * from "./record.ts";
export * from "./replay.ts";
