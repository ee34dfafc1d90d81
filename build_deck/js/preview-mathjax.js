// MathJax configured as Anki configures it (ts/mathjax/index.ts), except that
// `noundefined` is left out, so an undefined control sequence shows as an error.
window.MathJax = {
  tex: {
    displayMath: [["\\[", "\\]"]],
    processEscapes: false,
    processEnvironments: false,
    processRefs: false,
    packages: [
      "base", "action", "ams", "autoload", "configmacros", "mathtools", "mhchem",
      "newcommand", "require",
    ],
  },
  startup: {
    pageReady() {
      return MathJax.startup.defaultPageReady().then(() => window.buildDeckPreview.typeset());
    },
  },
};
