import assert from "node:assert/strict";
import { makeTestPki } from "@safla/transports/peer/tls_testing";
import { FlagError } from "./cluster_args.ts";
import { parsePeerTlsFlags } from "./peer_tls_flags.ts";

Deno.test("peer TLS flags: all three files or none; --peer-mtls needs them; bad files are named", async () => {
  assert.equal(await parsePeerTlsFlags({}), undefined);
  await assert.rejects(
    parsePeerTlsFlags({ "peer-mtls": true }),
    (e) => e instanceof FlagError && /--peer-mtls/.test(e.message),
  );
  await assert.rejects(
    parsePeerTlsFlags({ "peer-tls-cert": "a.crt", "peer-tls-ca": "ca.crt" }),
    (e) => e instanceof FlagError && e.message.startsWith("--peer-tls-key:"),
  );
  const dir = await Deno.makeTempDir({ prefix: "safla-peer-tls-flags-" });
  try {
    const files = (await makeTestPki(dir, "ca", ["n1"])).files("n1");
    const values = {
      "peer-tls-cert": files.certFile,
      "peer-tls-key": files.keyFile,
      "peer-tls-ca": files.caFile,
    };
    const tls = await parsePeerTlsFlags({ ...values, "peer-mtls": true });
    assert.ok(
      tls?.mutual && tls.cert.includes("BEGIN CERTIFICATE") && tls.key.includes("PRIVATE KEY"),
    );
    await assert.rejects(
      parsePeerTlsFlags({ ...values, "peer-tls-ca": `${dir}/nope.crt` }),
      (e) => e instanceof FlagError && /nope\.crt/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
