// Secret references in backend headers and env: resolved from the environment
// or a file at connect time; an error names the reference, never a value.
import assert from "node:assert/strict";
import { CredentialError, resolveSecretRefs } from "./credentials.ts";

Deno.test("resolveSecretRefs replaces env and file references, keeps the rest", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "from-file-secret\n");
    Deno.env.set("SAFLA_TEST_REF_SECRET", "from-env-secret");
    assert.deepEqual(
      resolveSecretRefs({
        Authorization: "Bearer ${env:SAFLA_TEST_REF_SECRET}",
        "X-Key": "${file:" + file + "}",
        "X-Plain": "plain",
      }, "svc#0 header"),
      {
        Authorization: "Bearer from-env-secret",
        "X-Key": "from-file-secret",
        "X-Plain": "plain",
      },
    );
    assert.equal(resolveSecretRefs(undefined, "svc#0 header"), undefined);
  } finally {
    Deno.env.delete("SAFLA_TEST_REF_SECRET");
    await Deno.remove(file);
  }
});

Deno.test("resolveSecretRefs names a missing variable or file and where it is used", () => {
  assert.throws(
    () =>
      resolveSecretRefs({ Authorization: "Bearer ${env:SAFLA_NOT_SET_ANYWHERE}" }, "svc#0 header"),
    (error: unknown) => {
      assert.ok(error instanceof CredentialError);
      assert.match(
        error.message,
        /^svc#0 header Authorization: environment variable SAFLA_NOT_SET_ANYWHERE/,
      );
      return true;
    },
  );
  assert.throws(
    () => resolveSecretRefs({ KEY: "${file:/nonexistent/safla-secret}" }, "svc#0 env"),
    /svc#0 env KEY: cannot read secret file \/nonexistent\/safla-secret .*not found/,
  );
});
