/**
 * Test helpers shared by the renderers' tests: every SVG must be a well-formed, self-contained,
 * accessible document.
 */

import { expect } from "vitest";
import { xmlProblem } from "./xml-check.js";

/** Well-formed XML, `role="img"`, a `<title>` and a `<desc>` first, a viewBox, nothing external. */
export function expectGoodSvg(svg: string): void {
  expect(xmlProblem(svg)).toBeNull();
  expect(svg).toMatch(
    /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" [^>]*role="img"[^>]*viewBox="0 0 \d+ \d+">/,
  );
  expect(svg).toMatch(/^<svg[^>]*><title>[^<]+<\/title><desc>[^<]+<\/desc>/);
  // Self-contained: no links, images, external fonts or scripts.
  expect(svg).not.toMatch(/href=|<image|@import|url\((?!#)|<script/);
}

/** The text of the first <title> (entities decoded). */
export function svgTitle(svg: string): string {
  const m = /<title>([^<]*)<\/title>/.exec(svg);
  return (m?.[1] ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}
