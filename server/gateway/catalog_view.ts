/**
 * The aggregated catalog clients see: every service's tools and prompts under
 * the names `core/registry/naming` exposes them by, resources by URI (the first
 * service listing a URI owns it) and resource templates. Rebuilt from the
 * services' catalogs whenever one changes and served as is; the lookups of the
 * call path (a name, a URI, a template) are indexed here, never a scan of the
 * catalogs.
 *
 * @module
 */
import type { Tool } from "@modelcontextprotocol/server";
import {
  exposeNames,
  type NameCollision,
  type NameTable,
  type NamingOptions,
  UriTemplate,
} from "@safla/core/registry";
import type { Catalog } from "@safla/transports";

/** Which list changed, for the fronts to tell their clients. */
export type ListKind = "tools" | "prompts" | "resources";

/** One service's catalog as the view is built from it; `undefined` before any replica listed. */
export interface ServiceCatalogInput {
  readonly service: string;
  readonly catalog: Catalog | undefined;
}

const KEY_SEP = "\u0000";

/** The client-facing lists and the lookups behind them. */
export class CatalogView {
  #toolNames: NameTable = exposeNames([]);
  #promptNames: NameTable = exposeNames([]);
  /** Backend tool definitions by service and backend name. */
  #toolDefs = new Map<string, Tool>();
  /** The service owning each concrete resource URI. */
  #uriOwners = new Map<string, string>();
  /** Templates in service order, parsed once; a template we cannot parse matches nothing. */
  #templates: { service: string; template: UriTemplate }[] = [];
  /** The service declaring each template text (the first one, as with resources). */
  #templateOwners = new Map<string, string>();
  #tools: Tool[] = [];
  #prompts: Record<string, unknown>[] = [];
  #resources: Record<string, unknown>[] = [];
  #resourceTemplates: Record<string, unknown>[] = [];
  #fingerprints = new Map<ListKind, string>();

  /**
   * Rebuilds every list from `services` (in order) and the gateway's own `localTools`.
   * Returns the lists whose content changed since the previous rebuild (none the first time).
   */
  rebuild(
    services: Iterable<ServiceCatalogInput>,
    localTools: readonly Tool[],
    naming: NamingOptions,
  ): ListKind[] {
    const tools: { service: string; name: string }[] = [];
    const prompts: { service: string; name: string }[] = [];
    const toolDefs = new Map<string, Tool>();
    const promptDefs = new Map<string, Record<string, unknown>>();
    const resources: Record<string, unknown>[] = [];
    const templates: Record<string, unknown>[] = [];
    const uriOwners = new Map<string, string>();
    const parsed: { service: string; template: UriTemplate }[] = [];
    const templateOwners = new Map<string, string>();
    for (const { service, catalog } of services) {
      if (catalog === undefined) continue;
      for (const t of catalog.tools) {
        tools.push({ service, name: t.name });
        toolDefs.set(service + KEY_SEP + t.name, t);
      }
      for (const p of catalog.prompts) {
        prompts.push({ service, name: p.name });
        promptDefs.set(service + KEY_SEP + p.name, p);
      }
      for (const r of catalog.resources) {
        if (uriOwners.has(r.uri)) continue;
        uriOwners.set(r.uri, service);
        resources.push(r);
      }
      for (const t of catalog.resourceTemplates) {
        templates.push(t);
        if (!templateOwners.has(t.uriTemplate)) templateOwners.set(t.uriTemplate, service);
        const template = parseOrUndefined(t.uriTemplate);
        if (template !== undefined) parsed.push({ service, template });
      }
    }
    this.#toolNames = exposeNames(tools, naming);
    this.#promptNames = exposeNames(prompts, naming);
    this.#toolDefs = toolDefs;
    this.#uriOwners = uriOwners;
    this.#templates = parsed;
    this.#templateOwners = templateOwners;
    this.#tools = [
      ...this.#toolNames.names.map((n) => ({
        ...toolDefs.get(n.service + KEY_SEP + n.name)!,
        name: n.exposed,
      })),
      ...localTools,
    ];
    this.#prompts = this.#promptNames.names.map((n) => ({
      ...promptDefs.get(n.service + KEY_SEP + n.name)!,
      name: n.exposed,
    }));
    this.#resources = resources;
    this.#resourceTemplates = templates;
    const changed: ListKind[] = [];
    this.#note(changed, "tools", JSON.stringify(this.#tools));
    this.#note(changed, "prompts", JSON.stringify(this.#prompts));
    this.#note(changed, "resources", JSON.stringify([resources, templates]));
    return changed;
  }

  #note(changed: ListKind[], kind: ListKind, fingerprint: string): void {
    const before = this.#fingerprints.get(kind);
    this.#fingerprints.set(kind, fingerprint);
    if (before !== undefined && before !== fingerprint) changed.push(kind);
  }

  /** The aggregated tools, under their exposed names, then the local tools. */
  get tools(): Tool[] {
    return this.#tools;
  }

  /** The aggregated prompts under their exposed names. */
  get prompts(): Record<string, unknown>[] {
    return this.#prompts;
  }

  /** Resources of all services, by URI. */
  get resources(): Record<string, unknown>[] {
    return this.#resources;
  }

  /** Resource templates of all services. */
  get resourceTemplates(): Record<string, unknown>[] {
    return this.#resourceTemplates;
  }

  /** Name clashes resolved by disambiguation, for status reports. */
  get collisions(): { tools: NameCollision[]; prompts: NameCollision[] } {
    return { tools: this.#toolNames.collisions, prompts: this.#promptNames.collisions };
  }

  /** The service and backend name behind an exposed tool name. */
  resolveTool(exposed: string): { service: string; name: string } | undefined {
    return this.#toolNames.resolve(exposed);
  }

  /** The service and backend name behind an exposed prompt name. */
  resolvePrompt(exposed: string): { service: string; name: string } | undefined {
    return this.#promptNames.resolve(exposed);
  }

  /** A backend tool's definition (its annotations gate retries and hedging). */
  tool(service: string, name: string): Tool | undefined {
    return this.#toolDefs.get(service + KEY_SEP + name);
  }

  /** The service that owns `uri`: a listed resource first, then the first matching template. */
  serviceForUri(uri: string): string | undefined {
    const owner = this.#uriOwners.get(uri);
    if (owner !== undefined) return owner;
    for (const { service, template } of this.#templates) {
      if (template.match(uri) !== null) return service;
    }
    return undefined;
  }

  /** The service declaring the template `uriTemplate` (completion of a template argument). */
  serviceForTemplate(uriTemplate: string): string | undefined {
    return this.#templateOwners.get(uriTemplate);
  }
}

function parseOrUndefined(text: string): UriTemplate | undefined {
  try {
    return UriTemplate.parse(text);
  } catch {
    // A template this gateway cannot parse matches nothing; the backend still lists it.
    return undefined;
  }
}
