import assert from "node:assert/strict";
import { ACTIVE_WINDOW_MS, admitSession, type SessionView } from "./session_limits.ts";

const NOW = 1_000_000;
const limits = { maxSessions: 4, maxSessionsPerPrincipal: 3 };
const view = (id: string, owner: string, idleMs: number, extra: Partial<SessionView> = {}) => ({
  id,
  owner,
  lastSeenMs: NOW - idleMs,
  used: true,
  busy: false,
  ...extra,
});

Deno.test("room left: admitted without evicting anyone", () => {
  assert.deepEqual(admitSession([view("a", "p", 0)], "q", limits, NOW), { admit: true });
});

Deno.test("a full node evicts from the principal holding the most, never-used first, then longest idle", () => {
  const open = [
    view("q1", "q", 60_000),
    view("p1", "p", 10_000),
    view("p2", "p", 50_000),
    view("p3", "p", 1, { used: false }),
  ];
  assert.deepEqual(admitSession(open, "r", limits, NOW), { admit: true, evict: "p3" });
  const used = open.map((s) => ({
    ...s,
    used: true,
    lastSeenMs: s.id === "p3" ? NOW : s.lastSeenMs,
  }));
  assert.deepEqual(admitSession(used, "r", limits, NOW), { admit: true, evict: "p2" });
});

Deno.test("active sessions never give way; the next holder does, or the newcomer is refused", () => {
  const open = [
    view("q1", "q", 60_000),
    view("p1", "p", 10, { used: true }),
    view("p2", "p", 50_000, { busy: true }),
    view("p3", "p", ACTIVE_WINDOW_MS - 1),
  ];
  assert.deepEqual(admitSession(open, "r", limits, NOW), { admit: true, evict: "q1" });
  const allActive = open.map((s) => s.id === "q1" ? { ...s, busy: true } : s);
  const refused = admitSession(allActive, "r", limits, NOW);
  assert.equal(refused.admit, false);
});

Deno.test("a principal at its own limit makes room among its own sessions only", () => {
  const open = [view("q1", "q", 90_000), view("p1", "p", 10_000), view("p2", "p", 20_000)];
  const perPrincipal = { maxSessions: 100, maxSessionsPerPrincipal: 2 };
  assert.deepEqual(admitSession(open, "p", perPrincipal, NOW), { admit: true, evict: "p2" });
  const busy = open.map((s) => s.owner === "p" ? { ...s, busy: true } : s);
  const refused = admitSession(busy, "p", perPrincipal, NOW);
  assert.deepEqual(refused, {
    admit: false,
    reason: "2 active sessions of this principal on this node",
  });
});
