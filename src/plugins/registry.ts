/**
 * What the loaded plugins contributed. One instance per load (no module-level list), so a test, a
 * second load or a simulated unit never sees another's plugins.
 *
 * Later registrations replace earlier ones with the same name, as the original's click group and
 * dict do: plugins load in a fixed order (packages, then files in lexicographic order).
 */
import type { PluginSink } from "../leader/streaming/sinks";
import type { AutomationFactory, AutomationFamily, AutomationRegistration, JobRegistration, PluginInfo, PluginLoadError } from "./types";

/** Everything one plugin's `register` added, kept apart until it returns without throwing. */
export interface PluginContribution {
  jobs: JobRegistration[];
  automations: AutomationRegistration[];
  sinks: PluginSink[];
  uiDirs: string[];
}

export function emptyContribution(): PluginContribution {
  return { jobs: [], automations: [], sinks: [], uiDirs: [] };
}

export class PluginRegistry {
  private readonly infos = new Map<string, PluginInfo>();
  private readonly jobMap = new Map<string, JobRegistration>();
  private readonly automationMap = new Map<string, AutomationRegistration>();
  private readonly sinkList: Array<{ plugin: string; sink: PluginSink }> = [];
  private readonly uiDirList: string[] = [];
  readonly errors: PluginLoadError[] = [];

  add(info: PluginInfo, contribution: PluginContribution): void {
    this.infos.set(info.name, info);
    for (const job of contribution.jobs) this.jobMap.set(job.command.name, job);
    for (const a of contribution.automations) this.automationMap.set(`${a.family}/${a.name}`, a);
    for (const sink of contribution.sinks) this.sinkList.push({ plugin: info.name, sink });
    this.uiDirList.push(...contribution.uiDirs);
  }

  reportError(error: PluginLoadError): void {
    this.errors.push(error);
  }

  /** Installed plugins in load order (a later plugin of the same name replaces the earlier one). */
  plugins(): PluginInfo[] {
    return [...this.infos.values()];
  }

  /** `name → version`, what a profile's `plugins:` requirement is checked against. */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of this.infos.values()) out[p.name] = p.version;
    return out;
  }

  jobs(): JobRegistration[] {
    return [...this.jobMap.values()];
  }

  /** `automation_name → factory` for one family, for the `*_automation` commands to merge over their built-ins. */
  automations<C = unknown>(family: AutomationFamily): Record<string, AutomationFactory<C>> {
    const out: Record<string, AutomationFactory<C>> = {};
    for (const a of this.automationMap.values()) if (a.family === family) out[a.name] = a.factory as AutomationFactory<C>;
    return out;
  }

  automationRegistrations(): AutomationRegistration[] {
    return [...this.automationMap.values()];
  }

  dbSinks(): PluginSink[] {
    return this.sinkList.map((s) => s.sink);
  }

  /** Extra UI descriptor folders (each like `plugins/ui/`), after `$DOT_PIOREACTOR/plugins/ui/`. */
  uiDescriptorDirs(): string[] {
    return [...this.uiDirList];
  }
}
