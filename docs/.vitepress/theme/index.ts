/**
 * The default VitePress theme plus the two components the pages use: `<Notebook>` (generated
 * notebook pages) and `<LiveCode>` (```` ```ts live ```` blocks in the guide).
 */
import type { Theme } from "vitepress";
import DefaultTheme from "vitepress/theme";
import LiveCode from "./LiveCode.vue";
import Notebook from "./Notebook.vue";
import "./notebook.css";

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component("Notebook", Notebook);
    app.component("LiveCode", LiveCode);
  },
} satisfies Theme;
