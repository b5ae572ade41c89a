// Types of the files the Bun runtime imports as data, so that `bun build --compile` embeds them in
// dist/pexd (scripts/build.ts) and a source run takes the same code path:
//  * `import sql from "…/0001_x.sql" with { type: "text" }` is the file's text;
//  * `import path from "swagger-ui-dist/…" with { type: "file" }` is a path for Bun.file(): the file in
//    node_modules from source, an internal /$bunfs/ path inside the executable.

declare module "*.sql" {
  const text: string;
  export default text;
}

declare module "swagger-ui-dist/*" {
  const path: string;
  export default path;
}

declare module "uplot/dist/*" {
  const path: string;
  export default path;
}
