/**
 * Whether the tests that start real etcd members can run here. On a
 * developer's machine without etcd they are reported as ignored (with one
 * line saying how to install it) rather than failing; under CI (`CI=true`),
 * whose `.ci/run` installs etcd, they always run, so a lost binary fails
 * loudly instead of passing unnoticed.
 *
 * @module
 */

function etcdRuns(binary: string): boolean {
  try {
    return new Deno.Command(binary, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** True when tests that need an etcd executable should be ignored. */
export const IGNORE_WITHOUT_ETCD = Deno.env.get("CI") !== "true" &&
  !etcdRuns(Deno.env.get("ETCD_BIN") ?? "etcd");

if (IGNORE_WITHOUT_ETCD) {
  console.error(
    "etcd not found (install Debian's etcd-server or set ETCD_BIN): the tests that need it are ignored",
  );
}
