import { defineConfig } from "vitest/config";

// Tests live under test/, one file per source file. QEMU-backed suites are slow
// (TCG only), so files run in parallel on the two cores and each test sets its
// own timeout where it boots a machine.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    root: new URL("..", import.meta.url).pathname,
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: "forks",
  },
});
