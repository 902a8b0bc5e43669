import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// In development the portal runs on Vite and forwards the API and the login flow to the
// Topicdesk server; in production Flask serves dist/ at the same origin as the API.
const backend = process.env.TOPICDESK_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  // Relative asset URLs: the built portal works wherever Flask mounts dist/ (it routes by hash).
  base: "./",
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: false },
      "/auth": { target: backend, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    sourcemap: false,
    target: "es2022",
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx", "scripts/**/*.test.mjs"],
    environment: "node",
  },
});
