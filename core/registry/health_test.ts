import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_HEALTH_POLICY,
  HealthError,
  type HealthObservation,
  type HealthPolicy,
  type HealthState,
  type HealthStatus,
  type HealthTransition,
  initialHealth,
  observeHealth,
  validateHealthPolicy,
} from "./health.ts";

const policy: HealthPolicy = {
  unhealthyAfterFailures: 3,
  healthyAfterSuccesses: 2,
  minDwellMs: 1_000,
  requireTools: false,
};

function run(
  observations: HealthObservation[],
  p: HealthPolicy = policy,
): { state: HealthState; transitions: HealthTransition[] } {
  let state = initialHealth(0);
  const transitions: HealthTransition[] = [];
  for (const o of observations) {
    const step = observeHealth(state, o, p);
    state = step.state;
    if (step.transition) transitions.push(step.transition);
  }
  return { state, transitions };
}

const probe = (atMs: number, ok: boolean, toolCount?: number): HealthObservation => ({
  kind: "probe",
  atMs,
  ok,
  toolCount,
});
const call = (atMs: number, ok: boolean): HealthObservation => ({ kind: "call", atMs, ok });
const path = (ts: HealthTransition[]): string[] => ts.map((t) => `${t.from}>${t.to}@${t.atMs}`);

Deno.test("health state machine", async (t) => {
  await t.step("table of scenarios", () => {
    const table: Array<[string, HealthObservation[], HealthStatus, string[]]> = [
      ["starts unknown", [], "unknown", []],
      ["one success is not enough", [probe(1, true)], "unknown", []],
      ["two successes make healthy", [probe(1, true), call(2, true)], "healthy", [
        "unknown>healthy@2",
      ]],
      [
        "failures leave unknown without dwell",
        [probe(1, false), probe(2, false), call(3, false)],
        "unhealthy",
        [
          "unknown>unhealthy@3",
        ],
      ],
      [
        "a success breaks a failure streak",
        [
          probe(1, true),
          probe(2, true),
          call(2000, false),
          call(2001, false),
          call(2002, true),
          call(2003, false),
        ],
        "healthy",
        ["unknown>healthy@2"],
      ],
      [
        "failures before the dwell time wait, then a tick applies them",
        [probe(1, true), probe(2, true), call(10, false), call(11, false), call(12, false), {
          kind: "tick",
          atMs: 1001,
        }, { kind: "tick", atMs: 1002 }],
        "unhealthy",
        ["unknown>healthy@2", "healthy>unhealthy@1002"],
      ],
      [
        "recovery needs successes and dwell",
        [
          probe(1, false),
          probe(2, false),
          probe(3, false),
          probe(500, true),
          probe(600, true),
          probe(1003, true),
        ],
        "healthy",
        ["unknown>unhealthy@3", "unhealthy>healthy@1003"],
      ],
      [
        "disconnect is immediate and ignores outcomes until connected",
        [
          probe(1, true),
          probe(2, true),
          { kind: "disconnected", atMs: 3 },
          probe(4, true),
          probe(5, true),
        ],
        "disconnected",
        ["unknown>healthy@2", "healthy>disconnected@3"],
      ],
      [
        "reconnect returns to unknown",
        [
          { kind: "disconnected", atMs: 1 },
          { kind: "connected", atMs: 2 },
          probe(3, true),
          probe(4, true),
        ],
        "healthy",
        ["unknown>disconnected@1", "disconnected>unknown@2", "unknown>healthy@4"],
      ],
      [
        "connected while connected changes nothing",
        [{ kind: "connected", atMs: 1 }],
        "unknown",
        [],
      ],
    ];
    for (const [name, observations, status, transitions] of table) {
      const result = run(observations);
      assert.equal(result.state.status, status, name);
      assert.deepEqual(path(result.transitions), transitions, name);
    }
  });

  await t.step("a restarted stdio backend listing zero tools is not healthy", () => {
    const result = run([
      probe(1, true, 4),
      probe(2, true, 4),
      { kind: "disconnected", atMs: 3 },
      { kind: "connected", atMs: 4 },
      probe(5, true, 0),
      call(6, true),
      probe(7, true, 0),
      probe(8, true, 0),
    ]);
    assert.equal(result.state.status, "unhealthy");
    assert.match(result.transitions.at(-1)!.reason, /zero tools/);
    const back = run([
      probe(1, true, 4),
      probe(2, true, 4),
      probe(1500, true, 0),
      probe(1501, true, 0),
      probe(1502, true, 0),
      probe(2600, true, 3),
      probe(2601, true, 3),
    ]);
    assert.deepEqual(path(back.transitions), [
      "unknown>healthy@2",
      "healthy>unhealthy@1502",
      "unhealthy>healthy@2601",
    ]);
  });

  await t.step("requireTools rejects zero tools from the start", () => {
    const p = { ...policy, requireTools: true };
    assert.equal(run([probe(1, true, 0), probe(2, true, 0)], p).state.status, "unknown");
    assert.equal(
      run([probe(1, true, 0), probe(2, true, 0), probe(3, true, 0)], p).state.status,
      "unhealthy",
    );
    assert.equal(run([probe(1, true, 0), probe(2, true, 0)]).state.status, "healthy");
  });

  await t.step("rejects time going backwards and bad policies", () => {
    const s = observeHealth(initialHealth(0), probe(10, true), policy).state;
    assert.throws(() => observeHealth(s, probe(9, true), policy), HealthError);
    assert.throws(() => observeHealth(s, probe(11, true, -1), policy), HealthError);
    assert.throws(
      () => validateHealthPolicy({ ...policy, unhealthyAfterFailures: 0 }),
      /unhealthyAfterFailures/,
    );
    assert.throws(() => validateHealthPolicy({ ...policy, minDwellMs: -1 }), /minDwellMs/);
    assert.equal(validateHealthPolicy(DEFAULT_HEALTH_POLICY), DEFAULT_HEALTH_POLICY);
  });

  await t.step("does not modify its input state", () => {
    const s = initialHealth(0);
    const copy = structuredClone(s);
    observeHealth(s, probe(1, false), policy);
    assert.deepEqual(s, copy);
  });
});

const arbitraryPolicy = fc.record({
  unhealthyAfterFailures: fc.integer({ min: 1, max: 4 }),
  healthyAfterSuccesses: fc.integer({ min: 1, max: 4 }),
  minDwellMs: fc.integer({ min: 0, max: 500 }),
  requireTools: fc.boolean(),
});

function arbitraryObservations(withTransport: boolean): fc.Arbitrary<HealthObservation[]> {
  const kinds = withTransport
    ? fc.constantFrom("probe", "call", "tick", "connected", "disconnected")
    : fc.constantFrom("probe", "call", "tick");
  return fc.array(
    fc.record({
      gapMs: fc.integer({ min: 0, max: 200 }),
      kind: kinds,
      ok: fc.boolean(),
      toolCount: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    }),
    { maxLength: 80 },
  ).map((steps) => {
    let atMs = 0;
    return steps.map(({ gapMs, kind, ok, toolCount }): HealthObservation => {
      atMs += gapMs;
      switch (kind) {
        case "probe":
          return { kind, atMs, ok, toolCount };
        case "call":
          return { kind, atMs, ok };
        default:
          return { kind, atMs } as HealthObservation;
      }
    });
  });
}

Deno.test("health properties", async (t) => {
  await t.step(
    "outcomes alone never move a status sooner than the dwell time after the last move",
    () => {
      fc.assert(
        fc.property(arbitraryPolicy, arbitraryObservations(false), (p, obs) => {
          const { transitions } = run(obs, p);
          for (let i = 1; i < transitions.length; i++) {
            assert.ok(
              transitions[i].atMs - transitions[i - 1].atMs >= p.minDwellMs,
              path(transitions).join(),
            );
          }
        }),
        { numRuns: 300 },
      );
    },
  );

  await t.step("between healthy and unhealthy the dwell time holds under any observations", () => {
    fc.assert(
      fc.property(arbitraryPolicy, arbitraryObservations(true), (p, obs) => {
        const { transitions } = run(obs, p);
        for (let i = 1; i < transitions.length; i++) {
          const { from, to } = transitions[i];
          const verdicts = ["healthy", "unhealthy"];
          if (verdicts.includes(from) && verdicts.includes(to)) {
            assert.ok(transitions[i].atMs - transitions[i - 1].atMs >= p.minDwellMs);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  await t.step("transitions chain, and into a verdict only after a full streak", () => {
    fc.assert(
      fc.property(arbitraryPolicy, arbitraryObservations(true), (p, obs) => {
        let state = initialHealth(0);
        for (const o of obs) {
          const step = observeHealth(state, o, p);
          if (step.transition) {
            assert.equal(step.transition.from, state.status);
            assert.equal(step.transition.to, step.state.status);
            if (step.transition.to === "healthy") {
              assert.ok(step.state.consecutiveSuccesses >= p.healthyAfterSuccesses);
              assert.equal(step.state.toolsMissing, false);
            }
            if (step.transition.to === "unhealthy") {
              assert.ok(step.state.consecutiveFailures >= p.unhealthyAfterFailures);
            }
          } else {
            assert.equal(step.state.status, state.status);
          }
          state = step.state;
        }
      }),
      { numRuns: 300 },
    );
  });
});
