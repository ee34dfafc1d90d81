// Read TeX with MathJax 3's TeX input, the engine Anki uses, and report MathJax's own
// errors (no output is laid out).
//
//   node texcheck.mjs MATHJAX_DIR < expressions.json > errors.json
//
// MATHJAX_DIR is the folder of the npm package `mathjax-full`. MathJax loads while
// standard input is read: a JSON array of [tex, display] pairs. Standard output gets
// one JSON array, in the same order: null where the TeX is fine, else MathJax's message.
// The TeX configuration is Anki's (ts/mathjax/index.ts) without `noundefined`, so an
// undefined control sequence is an error here rather than red text on the card.
// While the input is still on its way, MathJax's parser is warmed up on a few
// expressions: once V8 has compiled it, a deck typesets in about half the time.

import { createRequire } from "node:module";
import path from "node:path";

const PACKAGES = [
  "base", "action", "ams", "autoload", "configmacros", "mathtools", "mhchem", "newcommand",
  "require",
];

const WARM_UP = [
  String.raw`\frac{\partial L}{\partial w_{ij}} = \sum_k \delta_k x_i^{(k)}`,
  String.raw`\operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_j e^{z_j}}`,
  String.raw`\mathbb{E}[X] = \sum_x x\, P(X = x) \le \sqrt{\alpha + \beta^2}`,
  String.raw`\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix} \begin{pmatrix} a \\ b \end{pmatrix}`,
  String.raw`\mathcal{L}(\theta) = -\log p_\theta(y \mid x) + \lambda \|\theta\|_2^2`,
  String.raw`\hat{y} = \sigma\left(W^\top x + b\right), \quad \tilde{x} \approx \bar{x}`,
  String.raw`\text{if } x > 0, \; f(x) = \max(0, x) \text{ else } \mathrm{ReLU}(x) = 0`,
  String.raw`\begin{aligned} a &= b + c \\ d &\neq e \end{aligned}`,
  String.raw`Q(s, a) \leftarrow r + \gamma \max_{a'} Q(s', a') - Q(s, a)`,
  String.raw`O(n^2 d), \mathbf{x} \in \mathbb{R}^{d \times n}, \boldsymbol{\mu}, \infty, \dots`,
];
const WARM_UP_ROUNDS = 25;

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function main() {
  const mathjaxDir = process.argv[2];
  if (!mathjaxDir) throw new Error("usage: node texcheck.mjs MATHJAX_DIR");
  let received = false;
  const input = readInput().then((text) => {
    received = true;
    return text;
  });
  const require = createRequire(import.meta.url);
  const MathJax = await require(path.resolve(mathjaxDir, "es5", "node-main.js")).init({
    loader: { load: ["input/tex-full"] },
    tex: {
      packages: PACKAGES,
      processEscapes: false,
      processEnvironments: false,
      processRefs: false,
      formatError: (jax, error) => {
        throw error;
      },
    },
    startup: { typeset: false },
  });
  const { STATE } = MathJax._.core.MathItem;
  const document = MathJax.startup.document;
  // Every TeX error is thrown by the parser (the input jax calls formatError only when
  // it catches a TexError from TexParser); the post-filters then tidy the MathML tree
  // for output (scripts, inherited attributes, stretchy operators, relations) and throw
  // none. Without them MathJax reads the TeX in about half the time.
  const postFilters = document.inputJax[0].postFilters;
  for (const { item } of Array.from(postFilters)) postFilters.remove(item);
  const typeset = (tex, display) =>
    document.convert(tex, { display: Boolean(display), end: STATE.COMPILED });
  for (let round = 0; round < WARM_UP_ROUNDS && !received; round++) {
    for (const tex of WARM_UP) typeset(tex, false);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const items = JSON.parse(await input);
  const errors = items.map(([tex, display]) => {
    try {
      typeset(tex, display);
      return null;
    } catch (error) {
      return String(error && error.message ? error.message : error);
    }
  });
  process.stdout.write(JSON.stringify(errors));
}

main().catch((error) => {
  process.stderr.write(`texcheck: ${error && error.message ? error.message : error}\n`);
  process.exit(2);
});
