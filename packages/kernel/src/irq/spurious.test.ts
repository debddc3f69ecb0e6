import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { IRQ_HANDLED, IRQ_NONE } from "./irq-flags.js";
import { irqWorld } from "./irq-test-fixture.js";
import type { IrqDesc } from "./irqdesc.js";
import { noteInterrupt, SPURIOUS_LIMIT, SPURIOUS_WINDOW } from "./spurious.js";

/** The PL061 line requested with a do-nothing handler, and its descriptor. */
function lineWorld() {
  const w = irqWorld();
  const virq = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
  w.irq.requestIrq(virq, () => IRQ_HANDLED, 0, "9030000.pl061", null);
  w.log();
  return { ...w, virq, desc: w.irq.irqToDesc(virq) as IrqDesc };
}

describe("note_interrupt()", () => {
  test("a window of 100,000 events disables the line only past 99,900 unhandled", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: SPURIOUS_LIMIT - 50, max: SPURIOUS_WINDOW }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (unhandled, seed) => {
          const w = lineWorld();
          // The first event opens the window; the other unhandled ones are spread by `seed`.
          const marks = new Set<number>([0]);
          let x = seed;
          while (marks.size < unhandled) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            marks.add(x % SPURIOUS_WINDOW);
          }
          for (let i = 0; i < SPURIOUS_WINDOW; i++) {
            noteInterrupt(w.irq, w.desc, marks.has(i) ? IRQ_NONE : IRQ_HANDLED);
          }
          const stuck = unhandled > SPURIOUS_LIMIT;
          expect(w.irq.irqInfo(w.virq)?.disabled).toBe(stuck);
          expect(w.log().includes("Disabling IRQ #9")).toBe(stuck);
        },
      ),
      { numRuns: 6 },
    );
  });

  test("unhandled events more than HZ/10 apart never add up", () => {
    const w = lineWorld();
    for (let i = 0; i < SPURIOUS_WINDOW; i++) {
      w.soc.clock.run(104_000_000);
      noteInterrupt(w.irq, w.desc, IRQ_NONE);
    }
    expect(w.irq.irqInfo(w.virq)?.disabled).toBe(false);
    expect(w.log()).toEqual([]);
  });

  test("a line that always answers is never watched", () => {
    const w = lineWorld();
    for (let i = 0; i < 2 * SPURIOUS_WINDOW; i++) noteInterrupt(w.irq, w.desc, IRQ_HANDLED);
    expect(w.desc.irqCount).toBe(0);
  });
});
