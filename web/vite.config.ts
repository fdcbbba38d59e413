/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const backend = "http://127.0.0.1:8000";

// The console is served by loopdesk itself from src/loopdesk/console/static (same origin as the API),
// so the dev server proxies the API and the WebSocket to a local `loopdesk serve`. The Host header is
// kept (no changeOrigin): the server's cookie CSRF check compares Origin with Host.
export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "../src/loopdesk/console/static",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/api": { target: backend },
      "/ws": { target: backend, ws: true },
      "/threads": { target: backend },
      "/assistants": { target: backend },
      "/runs": { target: backend },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
  },
});
