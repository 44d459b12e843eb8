/**
 * Ending a child's whole process group, so that what a stdio server started
 * (an `npx` wrapper's node, a shell's background job) does not outlive it.
 * A child spawned with `detached: true` leads a group of its own on Unix
 * (its pid is the group id); its descendants stay in it unless they leave
 * on purpose (`setsid`), which no ordinary server does.
 *
 * @module
 */

/** Whether spawned children get a process group of their own here. */
export const PROCESS_GROUPS = Deno.build.os !== "windows";

/** How often a group is looked at while it is given time to exit. */
const POLL_MS = 25;

/**
 * Signals every process of a group; false when the group has no process left.
 *
 * @example
 * ```ts ignore
 * signalGroup(child.pid, "SIGTERM"); // the child leads its group when spawned detached
 * ```
 */
export function signalGroup(pgid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The running processes of a group, from `/proc` (Linux). Zombies are left
 * out: they hold no resource but a pid, and an init that does not reap (as
 * in some containers) keeps them forever. Undefined where there is no
 * `/proc`.
 *
 * @example
 * ```ts ignore
 * const members = await groupMembers(child.pid); // [] once everything in it has exited
 * ```
 */
export async function groupMembers(pgid: number): Promise<number[] | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const members: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") members.push(Number(entry.name));
  }
  return members;
}

/**
 * Ends a group: SIGTERM, then SIGKILL to whatever still runs after
 * `graceMs`; resolves once the group is gone, or `graceMs` after SIGKILL
 * (a process in uninterruptible sleep dies when its I/O returns).
 *
 * @example
 * ```ts ignore
 * await child.status;
 * await endGroup(child.pid, 2_000); // what the child left behind
 * ```
 */
export async function endGroup(pgid: number, graceMs: number): Promise<void> {
  if ((await groupMembers(pgid))?.length === 0) return;
  if (!signalGroup(pgid, "SIGTERM")) return;
  if (await goneWithin(pgid, graceMs)) return;
  signalGroup(pgid, "SIGKILL");
  await goneWithin(pgid, graceMs);
}

async function goneWithin(pgid: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const members = await groupMembers(pgid);
    // Without /proc, only a failed signal says the group is gone.
    if (members === undefined ? !signalGroup(pgid, "SIGCONT") : members.length === 0) return true;
  }
  return false;
}
