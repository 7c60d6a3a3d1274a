/** One unit's run as a chart: OD, normalised OD with the turbidostat target, growth rate, temperature, dosing and light. */
import { type ChartSpec, type Panel, renderChartSvg } from "./chart-svg";
import type { Point, UnitData } from "./run-data";

export interface UnitChartInput {
  data: UnitData;
  title: string;
  subtitle?: string;
  startMs: number;
  endMs: number;
  /** Setting histories watched during the run. */
  targetBiomass?: Point[];
  targetTemperature?: Point[];
}

function cumulative(events: UnitData["dosing"], kind: string, startMs: number): Point[] {
  let total = 0;
  const out: Point[] = [[startMs, 0]];
  for (const e of events) {
    if (e.event !== kind) continue;
    total += e.ml;
    out.push([e.t, total]);
  }
  return out;
}

export function unitChartSpec(c: UnitChartInput): ChartSpec {
  const d = c.data;
  const panels: Panel[] = [
    { title: "Optical density (od_reading, 90°, reference-normalised)", yLabel: "OD (AU)", series: [{ label: "od", color: "#1f77b4", points: d.od }] },
    {
      title: "Normalised OD (growth_rate_calculating), the turbidostat's signal",
      yLabel: "nOD",
      series: [
        { label: "od_filtered", color: "#2ca02c", points: d.nod },
        ...(c.targetBiomass && c.targetBiomass.length > 0 ? [{ label: "target", color: "#d62728", points: c.targetBiomass, step: true, dashed: true }] : []),
      ],
      events: { label: "media added", color: "#17becf", times: d.dosing.filter((e) => e.event === "add_media").map((e) => e.t) },
    },
    { title: "Growth rate (EKF estimate)", yLabel: "h⁻¹", series: [{ label: "growth rate", color: "#9467bd", points: d.growthRate }] },
    {
      title: "Vial temperature (inferred by temperature_automation)",
      yLabel: "℃",
      series: [
        { label: "temperature", color: "#ff7f0e", points: d.temperature },
        ...(c.targetTemperature && c.targetTemperature.length > 0
          ? [{ label: "target", color: "#d62728", points: c.targetTemperature, step: true, dashed: true }]
          : []),
      ],
    },
    {
      title: "Dosing (cumulative volumes from dosing_events)",
      yLabel: "mL",
      series: [
        { label: "media added", color: "#17becf", points: cumulative(d.dosing, "add_media", c.startMs), step: true },
        { label: "waste removed", color: "#8c564b", points: cumulative(d.dosing, "remove_waste", c.startMs), step: true, dashed: true },
      ],
      yMin: 0,
    },
  ];
  if (d.ledChanges.length > 0) {
    const byChannel = new Map<string, Point[]>();
    for (const e of d.ledChanges) {
      let list = byChannel.get(e.channel);
      if (!list) {
        list = [[c.startMs, 0]];
        byChannel.set(e.channel, list);
      }
      list.push([e.t, e.intensity]);
    }
    const colors: Record<string, string> = { A: "#7f7f7f", B: "#e377c2", C: "#bcbd22", D: "#d4a017" };
    panels.push({
      title: "LED intensity (led_change_events)",
      yLabel: "%",
      series: [...byChannel.entries()].sort().map(([channel, points]) => ({ label: `channel ${channel}`, color: colors[channel] ?? "#333", points, step: true })),
      yMin: 0,
    });
  }
  return { title: c.title, subtitle: c.subtitle, startMs: c.startMs, endMs: c.endMs, panels };
}

export function renderUnitChart(c: UnitChartInput): string {
  return renderChartSvg(unitChartSpec(c));
}
