/**
 * The installed command: `node bin/vfio-lab.mjs` over the built `dist/cli.js`, as a user runs it
 * (src/cli.test.ts tests the same commands in-process on the sources). Builds the package and its
 * dependencies first when dist/ is missing or older than the sources.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";

const PKG = new URL("../", import.meta.url).pathname;
const ROOT = new URL("../../../", import.meta.url).pathname;
const BIN = `${PKG}bin/vfio-lab.mjs`;
const FIXTURE = `${PKG}test/fixtures/qemu-virt-smmuv3-gicv3.dts`;

function stale(): boolean {
  const cli = `${PKG}dist/cli.js`;
  if (!existsSync(cli)) return true;
  const built = statSync(cli).mtimeMs;
  return readdirSync(`${PKG}src`).some(
    (f) => !f.endsWith(".test.ts") && statSync(`${PKG}src/${f}`).mtimeMs > built,
  );
}

function vfioLab(args: string[], cwd = PKG) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "" },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (stale()) {
    execFileSync(
      "npx",
      ["turbo", "run", "build", "--filter=@vfio-lab/notebooks...", "--output-logs=errors-only"],
      {
        cwd: ROOT,
        stdio: "ignore",
      },
    );
  }
}, 600_000);

describe("bin/vfio-lab.mjs", () => {
  it("lists the package's notebooks whatever the working directory", () => {
    const files = readdirSync(`${PKG}notebooks`).filter((f) => f.endsWith(".ipynb"));
    const r = vfioLab(["list"], "/");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    for (const f of files) expect(r.out).toContain(f.replace(/\.ipynb$/, ""));
  });

  it("boots the default board and the QEMU fixture", () => {
    const def = vfioLab(["board"]);
    expect(def.code).toBe(0);
    expect(def.out).toMatch(/\nc000000\.dma +amba +arm,pl330, arm,primecell +dma-pl330 +2\n/);
    const qemu = vfioLab(["board", FIXTURE]);
    expect(qemu.code).toBe(0);
    expect(qemu.out).toMatch(/\n9000000\.pl011 +amba +arm,pl011, arm,primecell +uart-pl011 +-\n/);
  });

  it("exits 2 with one line on stderr for a missing file", () => {
    expect(vfioLab(["board", "missing.dtb"])).toEqual({
      code: 2,
      out: "",
      err: "vfio-lab: cannot read missing.dtb: ENOENT\n",
    });
  });

  it("runs a notebook given by path and exits 1 when a cell fails", () => {
    const ok = vfioLab(["run", "test/fixtures/tiny.ipynb"]);
    expect(ok).toEqual({
      code: 0,
      out: "# Tiny\n\nIn [1]: console.log(6 * 7);\n\n42\n",
      err: "",
    });
    const failing = vfioLab(["run", "--no-source", "test/fixtures/tiny-fails.ipynb"]);
    expect(failing.code).toBe(1);
    expect(failing.out).toBe(
      "before\nEBUSY: busy: EBUSY (Device or resource busy)\nCell 1 (In [1]) failed: EBUSY: busy: EBUSY (Device or resource busy)\n",
    );
  });
});
