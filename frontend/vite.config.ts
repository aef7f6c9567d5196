import { defineConfig } from "vitest/config";

// Django serves dist/index.html at /app/ and the assets through whitenoise at /static/app/.
export default defineConfig({
  base: "/static/app/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
