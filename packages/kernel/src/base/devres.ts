/**
 * Managed device resources (drivers/base/devres.c): what a driver's probe acquired with a
 * `devm_*()` call is released by the driver core — in reverse order — when the probe fails or
 * the driver unbinds (devres_release_all() in device_unbind_cleanup()), so a failed probe or
 * an unbind leaves no claimed region behind.
 *
 * @packageDocumentation
 */

export interface DevresNode {
  /** The devm function that added it (`devm_ioremap_resource`), for debugging. */
  readonly name: string;
  readonly release: () => void;
}

export class Devres {
  private readonly list: DevresNode[] = [];

  /** devres_add(): `release` runs when the device's resources are released. */
  add(name: string, release: () => void): DevresNode {
    const node = { name, release };
    this.list.push(node);
    return node;
  }

  /** devres_release(): releases one node now (a devm_*_release() call); false if not held. */
  release(node: DevresNode): boolean {
    const i = this.list.indexOf(node);
    if (i < 0) return false;
    this.list.splice(i, 1);
    node.release();
    return true;
  }

  /** True when nothing is held (really_probe() refuses to probe otherwise). */
  get empty(): boolean {
    return this.list.length === 0;
  }

  /** The names of what is held, oldest first. */
  get names(): string[] {
    return this.list.map((n) => n.name);
  }

  /** devres_release_all(): newest first; the number released. */
  releaseAll(): number {
    let n = 0;
    while (this.list.length > 0) {
      const node = this.list.pop() as DevresNode;
      node.release();
      n++;
    }
    return n;
  }
}
