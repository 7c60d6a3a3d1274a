/**
 * The expanded timeline of a profile, without running it (user asks #2, #3): every action per
 * unit and job with its offset from the start, repeats expanded (up to a cap), `when` branches and
 * actions behind an `if`/`while` marked conditional. `pio profile plan` prints it and draws it
 * (`plan-svg.ts`); the order of entries at equal times is the executor's (spec §6.1–§6.3).
 */
import { pyRepr, pyStr } from "./expressions";
import { actionOffsetSeconds, repeatEverySeconds, repeatMaxSeconds } from "./executor";
import type { Action, Profile } from "./types";

export interface PlanEntry {
  unit: string;
  job: string;
  type: Action["type"];
  /** Seconds from the profile start (earliest possible for conditional entries). */
  atSeconds: number;
  /** Depends on a runtime condition (`if`, `while`, or inside a `when`). */
  conditional: boolean;
  /** Options, message, condition … as the log lines would print them. */
  detail: string;
  /** Repeat iteration (0-based) for entries produced by a repeat. */
  iteration?: number;
}

export interface Plan {
  name: string;
  entries: PlanEntry[];
  /** Repeats cut at the cap (no `max_time`, or too many iterations). */
  truncatedRepeats: number;
  /** Last offset in the plan, seconds. */
  endSeconds: number;
}

export interface PlanOptions {
  /** Units `common` jobs run on; defaults to one row named `*` ("every active worker"). */
  commonUnits?: string[];
  /** Iterations shown per repeat before cutting (default 200). */
  maxIterations?: number;
}

const isTrue = (v: boolean | string) => v === true;

function detailOf(a: Action): string {
  switch (a.type) {
    case "start":
      return `options ${pyRepr(a.options)}${a.args.length ? ` args ${pyRepr(a.args)}` : ""}${Object.keys(a.config_overrides).length ? ` overrides ${pyRepr(a.config_overrides)}` : ""}`;
    case "update":
      return Object.entries(a.options)
        .map(([k, v]) => `${k}=${pyStr(v)}`)
        .join(", ");
    case "log":
      return `[${a.options.level.toUpperCase()}] ${a.options.message}`;
    case "when":
      return `when ${a.wait_until !== "" ? a.wait_until : a.condition}`;
    case "repeat": {
      const max = repeatMaxSeconds(a);
      return `every ${formatSeconds(repeatEverySeconds(a))}${max === null ? "" : ` for ${formatSeconds(max)}`}${isTrue(a.while) ? "" : ` while ${String(a.while)}`}`;
    }
    default:
      return "";
  }
}

export function buildPlan(profile: Profile, opts: PlanOptions = {}): Plan {
  const entries: PlanEntry[] = [];
  const cap = opts.maxIterations ?? 200;
  let truncatedRepeats = 0;

  const expand = (unit: string, job: string, a: Action, base: number, conditional: boolean) => {
    const at = base + actionOffsetSeconds(a);
    const cond = conditional || !isTrue(a.if);
    entries.push({ unit, job, type: a.type, atSeconds: at, conditional: cond, detail: detailOf(a) });
    if (a.type === "when") {
      for (const child of a.actions) expand(unit, job, child, at, true);
      return;
    }
    if (a.type === "repeat") {
      const every = repeatEverySeconds(a);
      const max = repeatMaxSeconds(a);
      // Exactly the executor's rule: another iteration while n * every < max.
      let iterations = 1;
      while ((max === null || iterations * every < max) && iterations <= cap) iterations++;
      if (iterations > cap) {
        truncatedRepeats++;
        iterations = cap;
      }
      const loopConditional = cond || !isTrue(a.while);
      for (let k = 0; k < iterations; k++) {
        for (const child of a.actions) {
          const offset = actionOffsetSeconds(child);
          if (offset > every) continue;
          entries.push({
            unit,
            job,
            type: child.type,
            atSeconds: at + k * every + offset,
            conditional: loopConditional || !isTrue(child.if),
            detail: detailOf(child),
            iteration: k,
          });
        }
      }
    }
  };

  const commonUnits = opts.commonUnits ?? ["*"];
  for (const [job, spec] of Object.entries(profile.common.jobs)) {
    for (const a of spec.actions) for (const unit of commonUnits) expand(unit, job, a, 0, false);
  }
  for (const [unit, block] of Object.entries(profile.pioreactors)) {
    for (const [job, spec] of Object.entries(block.jobs)) for (const a of spec.actions) expand(unit, job, a, 0, false);
  }
  // Stable sort: equal times keep scheduling order, as the executor runs them.
  entries.sort((x, y) => x.atSeconds - y.atSeconds);
  return {
    name: profile.experiment_profile_name,
    entries,
    truncatedRepeats,
    endSeconds: entries.reduce((m, e) => Math.max(m, e.atSeconds), 0),
  };
}

/** `0s`, `45s`, `12m`, `1h 30m`, `2d 3h`, `0.5s`. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${Number.isInteger(s) ? s : Number(s.toFixed(3))}s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  const parts = [d ? `${d}d` : "", h ? `${h}h` : "", m ? `${m}m` : "", sec ? `${sec}s` : ""].filter(Boolean);
  return parts.join(" ");
}

/** The timeline as text, grouped by unit, then job, in time order. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [`Profile: ${plan.name}`];
  const units = [...new Set(plan.entries.map((e) => e.unit))];
  for (const unit of units) {
    lines.push("", unit === "*" ? "every active worker (common)" : unit);
    const forUnit = plan.entries.filter((e) => e.unit === unit);
    for (const job of [...new Set(forUnit.map((e) => e.job))]) {
      lines.push(`  ${job}`);
      for (const e of forUnit.filter((x) => x.job === job)) {
        const mark = e.conditional ? "?" : " ";
        const iter = e.iteration !== undefined ? ` #${e.iteration + 1}` : "";
        lines.push(`    ${formatSeconds(e.atSeconds).padStart(10)} ${mark} ${e.type.padEnd(7)}${e.detail ? ` ${e.detail}` : ""}${iter}`);
      }
    }
  }
  lines.push("", `${plan.entries.length} action(s); ends at ${formatSeconds(plan.endSeconds)}. "?" = conditional (if / while / when).`);
  if (plan.truncatedRepeats > 0) lines.push(`${plan.truncatedRepeats} repeat(s) without an end shown up to the cap.`);
  return lines.join("\n");
}
