/** Text for people: the live progress line and the end-of-run summary of a simulated profile. */
import type { SimProgress, SimulationResult } from "./run-profile";

const hours = (ms: number) => `${(ms / 3_600_000).toFixed(1)} h`;
const fixed = (v: number | undefined, d: number) => (v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(d));

export function progressLine(p: SimProgress, width = 24): string {
  const frac = Math.max(0, Math.min(1, p.simulatedMs / Math.max(1, p.horizonMs)));
  const filled = Math.round(frac * width);
  const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
  const units = p.units.map((u) => `${u.unit} OD ${fixed(u.od, 3)} µ ${fixed(u.growthRate, 2)}/h ${fixed(u.vialTemperatureC, 1)}℃`).join(" · ");
  return `${bar} ${hours(p.simulatedMs)} / ${hours(p.horizonMs)} · actions ${p.done} done, ${p.pending} pending · ${units}`;
}

export function summaryText(r: SimulationResult, outDir: string): string {
  const lines: string[] = [];
  const speedup = (r.endMs - r.startMs) / Math.max(1, r.wallMs);
  lines.push(
    `Simulated "${r.profileName}": ${hours(r.endMs - r.startMs)} in ${(r.wallMs / 1000).toFixed(1)} s (${Math.round(speedup)}× real time), profile ${r.outcome.status}, ${r.outcome.actionCount} actions.`,
  );
  if (r.outcome.waitingWhens > 0) lines.push(`${r.outcome.waitingWhens} \`when\` action(s) never saw their condition become true.`);
  lines.push("");
  const header = ["unit", "final OD", "nOD", "growth /h", "temp ℃", "media mL", "waste mL", "alt mL", "volume mL", "dosings", "actions"];
  const rows = r.units.map((u) => [
    u.label ? `${u.unit} (${u.label})` : u.unit,
    fixed(u.finalOd, 3),
    fixed(u.finalNod, 2),
    fixed(u.finalGrowthRate, 3),
    fixed(u.finalTemperatureC, 1),
    fixed(u.mediaAddedMl, 1),
    fixed(u.wasteRemovedMl, 1),
    fixed(u.altMediaAddedMl, 1),
    fixed(u.volumeMl, 1),
    String(u.dosingEvents),
    String(u.actions),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  lines.push(fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt));
  lines.push("");
  lines.push(`Database rows: ${Object.entries(r.rowCounts).map(([t, n]) => `${t} ${n}`).join(", ")}.`);
  lines.push(`Files in ${outDir}:`);
  for (const u of r.units) if (u.chart) lines.push(`  ${u.chart}  (chart)`);
  if (r.csv.length > 0) lines.push(`  ${r.csv.length} CSV files in csv/ (${r.csv.map((c) => c.table).join(", ")})`);
  lines.push(`  ${r.databaseFile}  (the leader database)`);
  return lines.join("\n");
}
