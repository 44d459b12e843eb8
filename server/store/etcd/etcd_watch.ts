/**
 * One etcd watch on its own gRPC stream, resumed from the first revision not
 * yet delivered after every reconnect.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { WatchEvent } from "@safla/core/state";
import { Etcd3, type IWatchRequest, type IWatchResponse } from "etcd3";
import type { WatchEnd, WatchSelector } from "../types.ts";
import {
  describe,
  EtcdStoreError,
  prefixRange,
  toSafeInteger,
  toWatchEvent,
  utf8,
} from "./etcd_wire.ts";

const WATCH_BACKOFF_MIN_MS = 50;
const WATCH_BACKOFF_MAX_MS = 2_000;

/** The etcd key range a selector needs; patterns watch the literal part before the first `*`. */
export function watchRange(selector: WatchSelector): { key: Buffer; range_end?: Buffer } {
  if ("key" in selector) return { key: utf8(selector.key) };
  if ("prefix" in selector) return prefixRange(selector.prefix);
  const star = selector.pattern.indexOf("*");
  if (star < 0) return { key: utf8(selector.pattern) };
  return prefixRange(selector.pattern.slice(0, star));
}

export interface EtcdWatchOptions {
  range: { key: Buffer; range_end?: Buffer };
  matches: (key: string) => boolean;
  startRevision: number;
  onEvents: (events: WatchEvent[]) => void;
  onEnd?: (end: WatchEnd) => void;
  reconnectLimit: number;
  onStop: (watch: EtcdWatch) => void;
}

type WatchStream = Awaited<ReturnType<Etcd3["watchClient"]["watch"]>>;

/**
 * One watch on its own gRPC stream. `#nextRevision` is the first revision
 * not yet delivered: every (re)connect asks etcd for history from there, and
 * anything older that arrives again is dropped.
 */
export class EtcdWatch {
  readonly #client: Etcd3;
  readonly #options: EtcdWatchOptions;
  #nextRevision: number;
  #stream: WatchStream | undefined;
  #stopped = false;
  #failures = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #created: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(client: Etcd3, options: EtcdWatchOptions) {
    this.#client = client;
    this.#options = options;
    this.#nextRevision = options.startRevision;
  }

  /** Resolves once etcd confirmed the first watch creation. */
  start(): Promise<void> {
    const created = new Promise<void>((resolve, reject) => this.#created = { resolve, reject });
    this.#connect();
    return created;
  }

  /** Stops delivery at once; the stream is torn down in the background. */
  cancel(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stop();
    this.#created?.reject(new EtcdStoreError("rejected", "watch cancelled before it started"));
    this.#created = undefined;
    return Promise.resolve();
  }

  #stop(): void {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel(); // its listeners ignore what follows: it is no longer #stream
    this.#options.onStop(this);
  }

  #end(end: WatchEnd): void {
    if (this.#stopped) return;
    this.#stop();
    if (this.#created) {
      this.#created.reject(new EtcdStoreError("rejected", `watch not created: ${end.reason}`));
      this.#created = undefined;
      return;
    }
    this.#options.onEnd?.(end);
  }

  #connect(): void {
    this.#client.watchClient.watch().then((stream) => {
      stream.on("error", (error: Error) => this.#onBroken(stream, error));
      stream.on("end", () => this.#onBroken(stream, new Error("watch stream ended")));
      if (this.#stopped) {
        stream.cancel();
        return;
      }
      this.#stream = stream;
      stream.on("data", (response: IWatchResponse) => {
        if (stream === this.#stream) this.#onResponse(response);
      });
      const request: IWatchRequest = {
        create_request: {
          ...this.#options.range,
          start_revision: this.#nextRevision,
          prev_kv: true,
        },
      };
      stream.write(request);
    }, (error: Error) => this.#onBroken(undefined, error));
  }

  #onBroken(stream: WatchStream | undefined, error: Error): void {
    if (this.#stopped || stream !== this.#stream) return;
    this.#stream = undefined;
    stream?.cancel();
    this.#failures++;
    if (this.#failures > this.#options.reconnectLimit) {
      this.#end({
        reason: `watch lost its etcd connection ${this.#failures} times in a row: ${error.message}`,
      });
      return;
    }
    const backoffMs = Math.min(
      WATCH_BACKOFF_MAX_MS,
      WATCH_BACKOFF_MIN_MS * 2 ** Math.min(this.#failures, 10),
    );
    this.#reconnectTimer = setTimeout(() => this.#connect(), backoffMs);
  }

  #onResponse(response: IWatchResponse): void {
    if (this.#stopped) return;
    const compactRevision = Number(response.compact_revision ?? 0);
    if (compactRevision > 0) {
      this.#end({
        reason:
          `revision ${this.#nextRevision} was compacted; the oldest available is ${compactRevision}`,
        compactRevision,
      });
      return;
    }
    if (response.canceled) {
      this.#end({ reason: `etcd cancelled the watch: ${response.cancel_reason || "no reason"}` });
      return;
    }
    if (response.created) {
      this.#failures = 0;
      this.#created?.resolve();
      this.#created = undefined;
      return;
    }
    const events: WatchEvent[] = [];
    for (const raw of response.events ?? []) {
      const event = toWatchEvent(raw);
      if (event.revision < this.#nextRevision) continue; // replayed after a reconnect
      if (this.#options.matches(event.kv.key)) events.push(event);
    }
    const last = response.events?.at(-1);
    if (last) {
      this.#nextRevision = Math.max(
        this.#nextRevision,
        toSafeInteger(last.kv.mod_revision, "mod_revision") + 1,
      );
    }
    if (events.length === 0) return;
    try {
      this.#options.onEvents(events);
    } catch (error) {
      this.#end({ reason: `the watch callback threw: ${describe(error)}` });
    }
  }
}
