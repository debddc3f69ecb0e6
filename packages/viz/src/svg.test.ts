import { test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { nastyString } from "../test/arbitraries.js";
import { xmlProblem } from "../test/xml-check.js";
import {
  charLength,
  el,
  escapeAttr,
  escapeText,
  fit,
  svgDocument,
  textEl,
  xmlSafe,
} from "./svg.js";
import { decodeEntities } from "./text-render.js";

describe("escaping", () => {
  fcTest.prop([nastyString, nastyString])(
    "text and attributes stay well-formed and decode back",
    (text, attr) => {
      const doc = el("root", { a: attr }, textEl("t", { b: text }, text));
      expect(xmlProblem(doc)).toBeNull();
      const m = /^<root a="([^"]*)"><t b="([^"]*)">([^<]*)<\/t><\/root>$/.exec(doc)!;
      expect(decodeEntities(m[1]!)).toBe(xmlSafe(attr));
      expect(decodeEntities(m[3]!)).toBe(xmlSafe(text));
    },
  );

  test("what XML cannot carry becomes U+FFFD", () => {
    expect(xmlSafe("a\u0000b\ud800c\uffffd\u0009\n😀")).toBe("a\ufffdb\ufffdc\ufffdd\u0009\n😀");
    expect(escapeText("<a & b>")).toBe("&lt;a &amp; b&gt;");
    expect(escapeAttr(`"it's"\n`)).toBe("&quot;it&apos;s&quot;&#10;");
  });

  test("fit() cuts by characters with an ellipsis", () => {
    expect(fit("abcdef", 4)).toBe("abc…");
    expect(fit("abc", 4)).toBe("abc");
    expect(fit("😀😀😀😀😀", 3)).toBe("😀😀…");
    expect(charLength("😀a")).toBe(2);
  });

  test("an empty title still gives the picture a name", () => {
    const svg = svgDocument({ cols: 2, rows: 2, title: " ", desc: "d", className: "c" }, []);
    expect(svg).toContain("<title>Untitled picture</title>");
    expect(xmlProblem(svg)).toBeNull();
  });
});
