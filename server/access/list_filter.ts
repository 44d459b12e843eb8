/**
 * Lists as one caller may see them: `tools/list`, `prompts/list`,
 * `resources/list` and `resources/templates/list` keep exactly the items a
 * call by that caller would be allowed (the same decision as enforce.ts).
 *
 * Filtering a list of thousands of tools per request would cost a decision
 * per item, so a filtered list is computed once per (policy snapshot, list,
 * view key) and shared: the view key (`PolicySet.viewKey`) is equal for
 * callers whose rules match alike, so a whole team shares one filtered list.
 * The cache holds at most {@link MAX_VIEWS_PER_LIST} views per list and is
 * dropped with the snapshot or the list it was made for.
 *
 * @module
 */
import { type AccessTarget, ANONYMOUS, type PolicySet, type Principal } from "@safla/core/access";
import type { ListKind } from "../gateway/gateway.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { ListMethodKind } from "../front/list_pages.ts";
import { promptTarget, resourceTarget, templateTarget, toolTarget } from "./enforce.ts";

/** Most distinct views cached per list and snapshot; beyond it the cache starts over. */
export const MAX_VIEWS_PER_LIST = 1_024;

type Item = Record<string, unknown>;

const cache = new WeakMap<PolicySet, WeakMap<readonly Item[], Map<string, Item[]>>>();

function targetOf(gateway: Gateway, kind: ListMethodKind, item: Item): AccessTarget | undefined {
  switch (kind) {
    case "tools":
      return toolTarget(gateway, String(item.name));
    case "prompts":
      return promptTarget(gateway, String(item.name));
    case "resources":
      return resourceTarget(gateway, String(item.uri));
    case "resourceTemplates":
      return templateTarget(gateway, String(item.uriTemplate));
  }
}

/**
 * The items of `list` (a gateway list of `kind`) that `principal` may use,
 * under `policies` (default: those in force).
 */
export function visibleItems<T extends Item>(
  gateway: Gateway,
  kind: ListMethodKind,
  list: readonly T[],
  principal: Principal = ANONYMOUS,
  policies: PolicySet = gateway.access.policies,
): T[] {
  let byList = cache.get(policies);
  if (byList === undefined) cache.set(policies, byList = new WeakMap());
  let views = byList.get(list);
  if (views === undefined) byList.set(list, views = new Map());
  const key = policies.viewKey(principal);
  const cached = views.get(key);
  if (cached !== undefined) return cached as T[];
  const visible = list.filter((item) => {
    const target = targetOf(gateway, kind, item);
    return target === undefined || policies.allows(principal, target);
  });
  if (views.size >= MAX_VIEWS_PER_LIST) views.clear();
  // An unfiltered list stays the same array, so paging keeps its per-list order cache.
  const result = visible.length === list.length ? list as T[] : visible;
  views.set(key, result);
  return result;
}

function sameItems(a: readonly Item[], b: readonly Item[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/** The lists whose view for `principal` differs between two snapshots: where to send list_changed. */
export function changedViews(
  gateway: Gateway,
  principal: Principal,
  before: PolicySet,
  after: PolicySet,
): ListKind[] {
  if (before === after) return [];
  const changed: ListKind[] = [];
  const differs = (kind: ListMethodKind, list: readonly Item[]) =>
    !sameItems(
      visibleItems(gateway, kind, list, principal, before),
      visibleItems(gateway, kind, list, principal, after),
    );
  if (differs("tools", gateway.listTools() as unknown as Item[])) changed.push("tools");
  if (differs("prompts", gateway.listPrompts())) changed.push("prompts");
  if (
    differs("resources", gateway.listResources()) ||
    differs("resourceTemplates", gateway.listResourceTemplates())
  ) {
    changed.push("resources");
  }
  return changed;
}
