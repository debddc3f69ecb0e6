/** Single-file components, typed for `tsc` (vue-tsc would check their insides; we do not run it). */
declare module "*.vue" {
  import type { DefineComponent } from "vue";

  const component: DefineComponent<object, object, unknown>;
  export default component;
}
