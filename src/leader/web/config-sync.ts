/**
 * `config.ini` to the workers after the leader's copy changed: the original rsyncs it over SSH
 * (`pios sync-configs --shared`); here the leader sends the text to each worker's
 * `PATCH /unit_api/config/shared`, so no SSH keys are needed. Every worker in the inventory gets it
 * (active or not, as the original); any failure fails the sync, naming the units.
 */
import { allWorkers, leaderHostnameOf } from "./cluster";
import type { WebContext } from "./deps";

/** Per worker; the original's whole sync may block the request up to 75 s. */
const PER_WORKER_TIMEOUT_MS = 15_000;

export async function syncSharedConfigToWorkers(ctx: WebContext, code: string): Promise<void> {
  const leader = leaderHostnameOf(ctx.config()) ?? ctx.unitName;
  const workers = (await allWorkers(ctx.leaderDb())).filter((u) => u !== leader && u !== ctx.unitName);
  if (workers.length === 0) return;
  const answers = await ctx.fanout.multicast("PATCH", "/unit_api/config/shared", workers, { code }, { requestTimeoutMs: PER_WORKER_TIMEOUT_MS });
  const failed = Object.values(answers).filter((a) => !a.ok);
  if (failed.length > 0) {
    const detail = failed.map((a) => `${a.unit} (${a.ok ? "" : a.error.message})`).join(", ");
    throw new Error(`config.ini was not copied to: ${detail}`);
  }
}
