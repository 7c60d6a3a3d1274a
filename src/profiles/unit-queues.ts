/**
 * One FIFO work queue per unit. The original runs every action on one thread, so a unit that takes
 * 5 s to answer (or three 0.5 s start retries) holds up every other unit. Here each unit's work runs
 * in order on its own queue and the units proceed concurrently: a slow or offline unit delays only
 * itself. The scheduler still hands work to the queues in the original's order.
 */

type Work = () => Promise<void>;

export class UnitQueues {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly perUnit = new Map<string, number>();
  private inFlight = 0;

  /** Called whenever the last piece of work anywhere finishes. */
  constructor(
    private readonly onIdle: () => void,
    private readonly onError: (unit: string, err: unknown) => void,
  ) {}

  enqueue(unit: string, work: Work): void {
    this.inFlight++;
    this.perUnit.set(unit, (this.perUnit.get(unit) ?? 0) + 1);
    const previous = this.tails.get(unit) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        await work();
      } catch (err) {
        this.onError(unit, err);
      } finally {
        const left = (this.perUnit.get(unit) ?? 1) - 1;
        if (left === 0) this.perUnit.delete(unit);
        else this.perUnit.set(unit, left);
        this.inFlight--;
        if (this.inFlight === 0) this.onIdle();
      }
    });
    this.tails.set(unit, next);
  }

  /** True while work handed to `unit` has not finished. */
  busy(unit: string): boolean {
    return this.perUnit.has(unit);
  }

  get idle(): boolean {
    return this.inFlight === 0;
  }

  get pendingCount(): number {
    return this.inFlight;
  }
}
