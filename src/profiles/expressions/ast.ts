/** Expression syntax trees, and the two ways of printing them (canonical, and for humans). */

export type ArithmeticOp = "+" | "-" | "*" | "/" | "**";
export type ComparisonOp = "<" | ">" | "==" | "<=" | ">=";
export type BinaryOp = ArithmeticOp | ComparisonOp | "and" | "or";

export type Expr =
  | { kind: "number"; text: string; value: number }
  | { kind: "name"; name: string }
  /** `name()`; `name` is without the parentheses. */
  | { kind: "function"; name: string }
  /** `unit:job:setting[.key]*`, or `::job:setting[.key]*` when `common` is true. */
  | { kind: "lookup"; text: string; common: boolean }
  | { kind: "unary"; op: "-" | "+" | "not"; operand: Expr }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr }
  /** A Python comparison chain `a < b <= c` (two or more operators); only the Python grammar makes these. */
  | { kind: "chain"; operands: Expr[]; ops: ComparisonOp[] };

function atomText(e: Expr): string | undefined {
  switch (e.kind) {
    case "number":
      return e.text;
    case "name":
      return e.name;
    case "function":
      return `${e.name}()`;
    case "lookup":
      return e.text;
    default:
      return undefined;
  }
}

/** Every operation in parentheses: two trees print the same exactly when they mean the same. */
export function printCanonical(e: Expr): string {
  const atom = atomText(e);
  if (atom !== undefined) return atom;
  switch (e.kind) {
    case "unary":
      return `(${e.op === "not" ? "not " : e.op}${printCanonical(e.operand)})`;
    case "binary":
      return `(${printCanonical(e.left)} ${e.op} ${printCanonical(e.right)})`;
    case "chain":
      return `(${e.operands.map((o, i) => (i === 0 ? "" : `${e.ops[i - 1]} `) + printCanonical(o)).join(" ")})`;
    default:
      return "";
  }
}

/**
 * Source text a person can paste back into a profile: every nested operation gets parentheses, so
 * the text means the same under either precedence model (the point of the precedence warning).
 */
export function printExplicit(e: Expr, nested = false): string {
  const atom = atomText(e);
  if (atom !== undefined) return atom;
  let text: string;
  switch (e.kind) {
    case "unary":
      text = `${e.op === "not" ? "not " : e.op}${printExplicit(e.operand, true)}`;
      break;
    case "binary":
      text = `${printExplicit(e.left, true)} ${e.op} ${printExplicit(e.right, true)}`;
      break;
    case "chain":
      text = e.operands.map((o, i) => (i === 0 ? "" : `${e.ops[i - 1]} `) + printExplicit(o, true)).join(" ");
      break;
    default:
      text = "";
  }
  return nested ? `(${text})` : text;
}
