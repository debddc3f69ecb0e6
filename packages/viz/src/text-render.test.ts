import { describe, expect, test } from "vitest";
import { decodeEntities, htmlToText, svgToText } from "./text-render.js";

describe("svgToText()", () => {
  test("texts by their coordinates, outlined rects as boxes, lines as rules, under the title", () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100"><title>A &amp; B</title><desc>ignored</desc>' +
      '<style>text{}</style><rect x="0" y="0" width="200" height="100" fill="#fff"/>' +
      '<rect x="4" y="8" width="80" height="48" stroke="#000" fill="none"/>' +
      '<text x="16" y="28">hi &lt;x&gt;</text>' +
      '<text x="44" y="44" text-anchor="middle">mid</text>' +
      '<line x1="92" y1="24" x2="140" y2="24" stroke="#000" marker-end="url(#a)"/>' +
      '<g class="x"><title>tooltip, not shown</title><text x="160" y="28">B</text></g>' +
      '<line x1="100" y1="40" x2="150" y2="90" stroke="#000"/>' +
      "</svg>";
    expect(svgToText(svg)).toBe(
      ["A & B", "", "┌─────────┐", "│ hi <x>  │──────>  B", "│   mid   │", "└─────────┘", ""].join(
        "\n",
      ),
    );
  });

  test("crossing rules join; translate() on groups is honoured", () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg"><title>t</title>' +
      '<line x1="4" y1="24" x2="44" y2="24" stroke="#000"/>' +
      '<line x1="20" y1="8" x2="20" y2="40" stroke="#000"/>' +
      '<g transform="translate(0,48)"><text x="0" y="12">low</text></g></svg>';
    expect(svgToText(svg)).toBe(["t", "", "  │", "──┼───", "  │", "low", ""].join("\n"));
  });

  test("a heading that repeats the title is drawn once, as the first line", () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg"><title>Head</title>' +
      '<text x="8" y="28">Head</text><text x="8" y="44">body</text><text x="8" y="60">Head</text></svg>';
    expect(svgToText(svg)).toBe("Head\n\nbody\nHead\n");
  });

  test("deterministic, and a picture without a title is just the grid", () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><text x="8" y="12">x</text></svg>';
    expect(svgToText(svg)).toBe("x\n");
    expect(svgToText(svg)).toBe(svgToText(svg));
  });
});

describe("htmlToText()", () => {
  test("every table as aligned columns under its caption", () => {
    const html =
      "<table><caption>Two &amp; two</caption><thead><tr><th>a</th><th>long header</th></tr></thead>" +
      "<tbody><tr><td>x&lt;1</td><td>y</td></tr><tr><td>longer cell</td><td></td></tr></tbody></table>" +
      "<p>ignored</p><table><tr><td>solo</td></tr></table>";
    expect(htmlToText(html)).toBe(
      [
        "Two & two",
        "",
        "a            long header",
        "───────────  ───────────",
        "x<1          y",
        "longer cell",
        "",
        "solo",
        "",
      ].join("\n"),
    );
    expect(htmlToText("<p>no table</p>")).toBe("");
  });
});

test("decodeEntities", () => {
  expect(decodeEntities("&lt;&gt;&amp;&quot;&apos;&#10;&#x1F600;&bogus;")).toBe(
    "<>&\"'\n😀&bogus;",
  );
});
