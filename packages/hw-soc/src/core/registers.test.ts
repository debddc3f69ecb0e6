import { describe, expect, it } from "vitest";
import { primeCellIdRegisters, RegisterMap } from "./registers.js";

describe("RegisterMap", () => {
  const map = new RegisterMap([
    { name: "CTRL", offset: 0x0, access: "rw", reset: 0x300 },
    { name: "BANK", offset: 0x100, access: "ro", count: 4, stride: 8 },
    { name: "PRIO", offset: 0x400, access: "rw", width: 1, count: 8 },
  ]);

  it("decodes single registers, banks with strides and byte-wide registers", () => {
    expect(map.decode(0x0)).toMatchObject({ spec: { name: "CTRL" }, index: 0, byte: 0 });
    expect(map.decode(0x2)).toMatchObject({ spec: { name: "CTRL" }, byte: 2 });
    expect(map.decode(0x118)).toMatchObject({ spec: { name: "BANK" }, index: 3 });
    expect(map.decode(0x104)).toBeUndefined();
    expect(map.decode(0x405)).toMatchObject({ spec: { name: "PRIO" }, index: 5, byte: 0 });
  });

  it("lists every register with its offset, banks expanded", () => {
    expect([...map.entries()].map((e) => `${e.name}${e.index}@${e.offset.toString(16)}`)).toEqual([
      "CTRL0@0",
      "BANK0@100",
      "BANK1@108",
      "BANK2@110",
      "BANK3@118",
      ...Array.from({ length: 8 }, (_, i) => `PRIO${i}@${(0x400 + i).toString(16)}`),
    ]);
  });

  it("refuses overlapping declarations", () => {
    expect(
      () =>
        new RegisterMap([
          { name: "A", offset: 0, access: "rw" },
          { name: "B", offset: 2, access: "rw" },
        ]),
    ).toThrow(/overlaps A/);
  });

  it("builds the PrimeCell ID block that assembles to the AMBA cell ID", () => {
    const ids = new RegisterMap(primeCellIdRegisters([0x30, 0x13, 0x24, 0x00]));
    const byte = (o: number) => ids.decode(o)!.spec.reset!;
    expect([0xfe0, 0xfe4, 0xfe8, 0xfec].map(byte)).toEqual([0x30, 0x13, 0x24, 0x00]);
    const cid =
      [0xff0, 0xff4, 0xff8, 0xffc].map(byte).reduce((v, b, i) => v | (b << (8 * i)), 0) >>> 0;
    expect(cid).toBe(0xb105f00d);
  });
});
