/**
 * Tokeniser for profile expressions, matching the original's lexer token for token.
 *
 * The original tries each token pattern in a fixed order at the current position and takes the
 * first that matches (not the longest), so the order of `TOKEN_RULES` is part of the language:
 * `unit1:stirring:target_rpm` must be a lookup, not the name `unit1` followed by junk.
 */

export type TokenKind =
  | "LOOKUP" // unit:job:setting[.key]*
  | "COMMON_LOOKUP" // ::job:setting[.key]*
  | "FUNCTION" // name()
  | "NAME"
  | "AND"
  | "OR"
  | "NOT"
  | "**"
  | "+"
  | "-"
  | "*"
  | "/"
  | "<="
  | ">="
  | "=="
  | "<"
  | ">"
  | "NUMBER"
  | "("
  | ")";

export interface Token {
  kind: TokenKind;
  text: string;
  /** Offset of the token's first character in the expression text. */
  index: number;
}

export class ExpressionLexError extends Error {
  override readonly name = "ExpressionLexError";
  constructor(
    /** The original's LexError text, e.g. `Illegal character '"' at index 3`. */
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

const IDENT = "[a-zA-Z_$][a-zA-Z0-9_]*";

const TOKEN_RULES: ReadonlyArray<readonly [TokenKind, RegExp]> = [
  ["LOOKUP", new RegExp(`(?:${IDENT}(?:\\(\\))?:){2,}(?:${IDENT}\\.)*${IDENT}`, "y")],
  ["COMMON_LOOKUP", new RegExp(`::(?:${IDENT}:)(?:${IDENT}\\.)*${IDENT}`, "y")],
  ["FUNCTION", new RegExp(`${IDENT}\\(\\)`, "y")],
  ["NAME", new RegExp(IDENT, "y")],
  ["**", /\*\*/y],
  ["+", /\+/y],
  ["-", /-/y],
  ["*", /\*/y],
  ["/", /\//y],
  ["<=", /<=/y],
  [">=", />=/y],
  ["==", /==/y],
  ["<", /</y],
  [">", />/y],
  // The optional sign never matches in practice: `+` and `-` are tried first.
  ["NUMBER", /[+-]?(?:[0-9]*[.])?[0-9]+/y],
];

/** Only lowercase words are keywords; `AND` is an ordinary name (a bare-word string). */
const KEYWORDS: Readonly<Record<string, TokenKind>> = { and: "AND", or: "OR", not: "NOT" };

/** Only space and tab separate tokens; a newline is an illegal character, as in the original. */
const IGNORED = new Set([" ", "\t"]);

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  outer: while (index < text.length) {
    const ch = text[index];
    if (IGNORED.has(ch)) {
      index++;
      continue;
    }
    for (const [kind, re] of TOKEN_RULES) {
      re.lastIndex = index;
      const m = re.exec(text);
      if (m) {
        const tokenKind = kind === "NAME" ? (KEYWORDS[m[0]] ?? "NAME") : kind;
        tokens.push({ kind: tokenKind, text: m[0], index });
        index += m[0].length;
        continue outer;
      }
    }
    if (ch === "(" || ch === ")") {
      tokens.push({ kind: ch, text: ch, index });
      index++;
      continue;
    }
    throw new ExpressionLexError(`Illegal character ${pyCharRepr(ch)} at index ${index}`, index);
  }
  return tokens;
}

function pyCharRepr(ch: string): string {
  if (ch === "\n") return "'\\n'";
  if (ch === "'") return `"'"`;
  return `'${ch}'`;
}
