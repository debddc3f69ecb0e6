/**
 * A strict XML 1.0 well-formedness check for the tests, written independently of the builder
 * in src/svg.ts: one root element, properly nested and matching tags, valid names, unique and
 * quoted attributes, `&` only in entity or character references (to valid characters), no `<`
 * in attribute values, no character outside XML's Char production, no `]]>` in text, comments
 * without `--`. Returns the first problem, or null when the document is well-formed.
 */

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*$/;
const PREDEFINED = new Set(["amp", "lt", "gt", "quot", "apos"]);

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** Checks `&…;` references and raw characters of a text or attribute value. */
function checkChars(s: string, where: string, inAttr: boolean): string | null {
  for (let i = 0; i < s.length; i++) {
    const cp = s.codePointAt(i)!;
    if (cp > 0xffff) i++;
    else if (cp >= 0xd800 && cp <= 0xdfff) return `${where}: lone surrogate at ${i}`;
    if (!isXmlChar(cp)) return `${where}: character U+${cp.toString(16)} is not allowed`;
    const ch = s[i];
    if (ch === "<") return `${where}: raw '<'`;
    if (inAttr && ch === '"') return `${where}: raw quote`;
    if (ch === "&") {
      const m = /^&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z_][-A-Za-z0-9_.]*);/.exec(s.slice(i));
      if (!m) return `${where}: bare '&' at ${i}`;
      const body = m[1]!;
      if (body.startsWith("#")) {
        const ref =
          body[1] === "x" ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
        if (!isXmlChar(ref)) return `${where}: reference to invalid character ${body}`;
      } else if (!PREDEFINED.has(body)) return `${where}: undefined entity &${body};`;
      i += m[0].length - 1;
    }
  }
  if (!inAttr && s.includes("]]>")) return `${where}: ']]>' in text`;
  return null;
}

export function xmlProblem(doc: string): string | null {
  let i = 0;
  const stack: string[] = [];
  let roots = 0;
  if (doc.startsWith("<?xml")) {
    const end = doc.indexOf("?>");
    if (end < 0) return "unterminated XML declaration";
    i = end + 2;
  }
  while (i < doc.length) {
    const lt = doc.indexOf("<", i);
    const text = doc.slice(i, lt < 0 ? doc.length : lt);
    if (text !== "") {
      if (stack.length === 0 && text.trim() !== "")
        return `text outside the root: ${JSON.stringify(text.slice(0, 20))}`;
      const p = checkChars(text, "text", false);
      if (p) return p;
    }
    if (lt < 0) break;
    if (doc.startsWith("<!--", lt)) {
      const end = doc.indexOf("-->", lt + 4);
      if (end < 0) return "unterminated comment";
      if (doc.slice(lt + 4, end).includes("--")) return "'--' inside a comment";
      i = end + 3;
      continue;
    }
    if (doc.startsWith("<![CDATA[", lt)) {
      if (stack.length === 0) return "CDATA outside the root";
      const end = doc.indexOf("]]>", lt);
      if (end < 0) return "unterminated CDATA";
      i = end + 3;
      continue;
    }
    if (doc[lt + 1] === "?" || doc[lt + 1] === "!") return `unexpected markup at ${lt}`;
    // The tag runs to the first '>' outside a quoted value.
    let j = lt + 1;
    let quote = "";
    for (; j < doc.length; j++) {
      const ch = doc[j];
      if (quote) {
        if (ch === quote) quote = "";
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === ">") break;
      else if (ch === "<") return `'<' inside a tag at ${j}`;
    }
    if (j >= doc.length) return "unterminated tag";
    const inner = doc.slice(lt + 1, j);
    i = j + 1;
    if (inner.startsWith("/")) {
      const name = inner.slice(1).trimEnd();
      const open = stack.pop();
      if (open !== name) return `</${name}> closes <${open ?? "nothing"}>`;
      continue;
    }
    const selfClosing = inner.endsWith("/");
    const body = selfClosing ? inner.slice(0, -1) : inner;
    const nm = /^[^\s]+/.exec(body);
    const name = nm?.[0] ?? "";
    if (!NAME.test(name)) return `bad element name ${JSON.stringify(name)}`;
    let rest = body.slice(name.length);
    const seen = new Set<string>();
    for (;;) {
      const ws = /^\s*/.exec(rest)![0];
      rest = rest.slice(ws.length);
      if (rest === "") break;
      if (ws === "") return `<${name}>: attributes must be separated by whitespace`;
      const m = /^([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/.exec(rest);
      if (!m) return `<${name}>: malformed attribute near ${JSON.stringify(rest.slice(0, 20))}`;
      const an = m[1]!;
      if (!NAME.test(an)) return `<${name}>: bad attribute name ${an}`;
      if (seen.has(an)) return `<${name}>: duplicate attribute ${an}`;
      seen.add(an);
      const p = checkChars(m[3] ?? m[4] ?? "", `<${name} ${an}>`, true);
      if (p) return p;
      rest = rest.slice(m[0].length);
    }
    if (stack.length === 0) {
      roots++;
      if (roots > 1) return "more than one root element";
    }
    if (!selfClosing) stack.push(name);
  }
  if (stack.length) return `unclosed <${stack[stack.length - 1]}>`;
  if (roots !== 1) return "no root element";
  return null;
}
