/**
 * MQTT topic-filter index: which subscriptions match a topic, found by walking a trie of filter
 * levels instead of testing every filter. A simulated cluster has hundreds of subscriptions
 * (every job's `/set` commands, the streamer's 30-odd filters, profile lookups) and publishes
 * millions of messages on a long run, so a linear scan per publish would dominate the run time.
 */

interface Node<T> {
  children: Map<string, Node<T>>;
  /** Entries whose filter ends at this node. */
  here: Set<T>;
  /** Entries whose filter ends with `#` below this node (match this level and everything under it). */
  hash: Set<T>;
}

function node<T>(): Node<T> {
  return { children: new Map(), here: new Set(), hash: new Set() };
}

/** Most topics whose matches are remembered; a long run repeats a few hundred topics. */
const MAX_REMEMBERED_TOPICS = 20_000;

export class TopicIndex<T> {
  private readonly root: Node<T> = node();
  /**
   * Matches per topic since the subscriptions last changed: jobs subscribe at start and stop,
   * while every reading publishes the same topics again.
   */
  private readonly remembered = new Map<string, readonly T[]>();

  add(filter: string, entry: T): void {
    this.remembered.clear();
    let n = this.root;
    for (const level of filter.split("/")) {
      if (level === "#") {
        n.hash.add(entry);
        return;
      }
      let child = n.children.get(level);
      if (!child) {
        child = node();
        n.children.set(level, child);
      }
      n = child;
    }
    n.here.add(entry);
  }

  remove(filter: string, entry: T): void {
    this.remembered.clear();
    let n: Node<T> | undefined = this.root;
    for (const level of filter.split("/")) {
      if (!n) return;
      if (level === "#") {
        n.hash.delete(entry);
        return;
      }
      n = n.children.get(level);
    }
    n?.here.delete(entry);
  }

  /**
   * Entries whose filter matches `topic` (each once), MQTT rules: `+` and `#` do not match `$…`
   * at the first level. The array is shared between calls: read it, do not change it.
   */
  match(topic: string): readonly T[] {
    let found = this.remembered.get(topic);
    if (found === undefined) {
      const out: T[] = [];
      this.walk(this.root, topic.split("/"), 0, out);
      // An entry subscribed with several filters can match more than once.
      found = out.length > 1 ? [...new Set(out)] : out;
      if (this.remembered.size >= MAX_REMEMBERED_TOPICS) this.remembered.clear();
      this.remembered.set(topic, found);
    }
    return found;
  }

  private walk(n: Node<T>, levels: string[], i: number, out: T[]): void {
    const dollarFirst = i === 0 && levels[0].startsWith("$");
    if (!dollarFirst) for (const e of n.hash) out.push(e);
    if (i === levels.length) {
      for (const e of n.here) out.push(e);
      return;
    }
    const exact = n.children.get(levels[i]);
    if (exact) this.walk(exact, levels, i + 1, out);
    if (!dollarFirst) {
      const plus = n.children.get("+");
      if (plus) this.walk(plus, levels, i + 1, out);
    }
  }
}

/** Whether one filter matches one topic (for retained messages delivered on subscribe). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return !(i === 0 && t[0].startsWith("$"));
    if (i >= t.length) return false;
    if (f[i] === "+") {
      if (i === 0 && t[0].startsWith("$")) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
