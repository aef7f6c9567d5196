// No TypeScript import cycle under src/ (issue 27): a cycle means two modules are really
// one thing, or that a shared piece wants a module of its own. Type-only imports count too,
// so the dependency graph a reader sees is the one that is checked.

import { describe, expect, it } from "vitest";

// Every module's source text, keyed "./views/annotate.ts"; vite reads them (no node typings needed).
const sources = import.meta.glob(["./**/*.ts", "!./**/*.test.ts", "!./**/*.d.ts"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

/** Relative specifiers of `import … from "./x"`, `export … from "./x"` and `import "./x"`. */
function relativeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [/\b(?:import|export)\b[^;'"]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g, /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]);
  return found;
}

/** "./views/x.ts" + "../api" -> "./api", the key of the module it names (or of its index.ts). */
function resolveImport(from: string, spec: string, files: Set<string>): string | null {
  const parts = from.split("/").slice(0, -1);
  for (const part of spec.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  const base = parts.join("/");
  for (const candidate of [base, `${base}.ts`, `${base}/index.ts`]) if (files.has(candidate)) return candidate;
  return null;
}

/** The cycles a depth-first search meets through back edges: at least one whenever the graph has any. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const reported = new Set<string>();
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (node: string) => {
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const at = stack.indexOf(next);
      if (at >= 0) {
        const cycle = stack.slice(at);
        const key = [...cycle].sort().join("|");
        if (!reported.has(key)) {
          reported.add(key);
          cycles.push([...cycle, next]);
        }
      } else if (!done.has(next)) {
        visit(next);
      }
    }
    stack.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) if (!done.has(node)) visit(node);
  return cycles;
}

describe("import graph of src/", () => {
  const known = new Set(Object.keys(sources));
  const graph = new Map(
    Object.entries(sources).map(([f, text]) => [f, relativeImports(text).flatMap((spec) => resolveImport(f, spec, known) ?? [])]),
  );

  it("sees the modules and their imports", () => {
    expect(known.size).toBeGreaterThan(10);
    expect(known.has("./importCycles.test.ts")).toBe(false);
    expect(graph.get("./main.ts")).toContain("./api.ts");
    expect(graph.get("./views/dashboard.ts")).toContain("./views/labels.ts");
  });

  it("has no cycle", () => {
    const cycles = findCycles(graph).map((c) => c.map((f) => f.slice(2)).join(" -> "));
    expect(cycles, `import cycles under frontend/src:\n  ${cycles.join("\n  ")}`).toEqual([]);
  });
});

describe("the cycle finder", () => {
  it("reads import, export-from, type-only and side-effect imports, not comments or packages", () => {
    const src = [
      'import { a } from "./a";',
      'import type { B } from "../b";',
      "import {\n  c,\n  type D,\n} from './c';",
      'export { e } from "./e";',
      'export * from "./f";',
      'import "./style.css";',
      'import { it } from "vitest";',
      '// import { x } from "./commented";',
    ].join("\n");
    expect(relativeImports(src)).toEqual(["./a", "../b", "./c", "./e", "./f", "./style.css"]);
  });

  it("finds a cycle and ignores a diamond", () => {
    const g = new Map([
      ["a", ["b", "c"]],
      ["b", ["d"]],
      ["c", ["d"]],
      ["d", ["e"]],
      ["e", ["b"]],
    ]);
    expect(findCycles(g)).toEqual([["b", "d", "e", "b"]]);
    expect(findCycles(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]))).toEqual([]);
  });
});
