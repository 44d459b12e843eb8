/**
 * Test certificates made at test time with `openssl` into a temporary
 * directory (no key is ever committed): one CA and one certificate per node,
 * each naming 127.0.0.1 and localhost, good for both TLS roles.
 *
 * @module
 */
import type { PeerTls, PeerTlsFiles } from "./peer_tls.ts";

async function openssl(dir: string, args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

/** A CA and its nodes' certificate files. */
export interface TestPki {
  /** The directory holding every file. */
  dir: string;
  /** The files of a node's certificate signed by this CA. */
  files(nodeId: string, mutual?: boolean): PeerTlsFiles;
  /** The loaded PEM of a node's certificate signed by this CA. */
  load(nodeId: string, mutual?: boolean): Promise<PeerTls>;
}

/**
 * Makes a CA named `caName` and a certificate for each of `nodeIds` under
 * `dir` (created if missing).
 *
 * @example
 * ```ts ignore
 * const pki = await makeTestPki(await Deno.makeTempDir(), "ca", ["n1", "n2"]);
 * const tls = await pki.load("n1", true);
 * ```
 */
export async function makeTestPki(
  dir: string,
  caName: string,
  nodeIds: string[],
): Promise<TestPki> {
  await Deno.mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${caName}.key`,
    "-out",
    `${caName}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${caName}`,
  ]);
  const ext = `${caName}.ext`;
  await Deno.writeTextFile(
    `${dir}/${ext}`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  for (const id of nodeIds) {
    const base = `${caName}-${id}`;
    await openssl(dir, [
      "req",
      ...ec,
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.csr`,
      "-subj",
      `/CN=${id}`,
    ]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      `${caName}.crt`,
      "-CAkey",
      `${caName}.key`,
      "-CAcreateserial",
      "-out",
      `${base}.crt`,
      "-days",
      "2",
      "-extfile",
      ext,
    ]);
  }
  const files = (nodeId: string, mutual = false): PeerTlsFiles => ({
    certFile: `${dir}/${caName}-${nodeId}.crt`,
    keyFile: `${dir}/${caName}-${nodeId}.key`,
    caFile: `${dir}/${caName}.crt`,
    mutual,
  });
  return {
    dir,
    files,
    load: async (nodeId, mutual = false) => {
      const f = files(nodeId, mutual);
      return {
        cert: await Deno.readTextFile(f.certFile),
        key: await Deno.readTextFile(f.keyFile),
        ca: await Deno.readTextFile(f.caFile),
        mutual,
      };
    },
  };
}
