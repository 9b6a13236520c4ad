// The dashboard's frontend, built by `make dashboard` into ../static (served by the dashboard
// process). No dev server is needed: the dashboard serves the built files itself.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../static",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
});
