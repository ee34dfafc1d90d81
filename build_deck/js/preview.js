// The preview's behaviour: search, the card-quality filter, light/night toggle, and the
// list of cards whose
// math MathJax could not typeset (run by MathJax's pageReady, see preview-mathjax.js).
(function () {
  "use strict";
  const entries = Array.from(document.querySelectorAll(".entry"));
  const count = document.getElementById("count");
  const search = document.getElementById("search");
  const lint = document.getElementById("lint");
  const night = document.getElementById("night");
  const status = document.getElementById("status");
  const errorList = document.getElementById("errors");

  function setNight(on) {
    document.body.classList.toggle("night", on);
    for (const card of document.querySelectorAll(".card")) {
      card.classList.toggle("nightMode", on);
    }
    night.setAttribute("aria-pressed", String(on));
    night.textContent = on ? "Light" : "Night";
  }
  night.addEventListener("click", () => setNight(!document.body.classList.contains("night")));

  function filter() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const kind = lint.value;
    let shown = 0;
    for (const entry of entries) {
      const kinds = entry.dataset.lint.split(" ").filter(Boolean);
      const linted = kind === "" || (kind === "*" ? kinds.length > 0 : kinds.includes(kind));
      const hit = linted && words.every((word) => entry.dataset.text.includes(word));
      entry.hidden = !hit;
      shown += hit ? 1 : 0;
    }
    for (const group of document.querySelectorAll(".group")) {
      group.hidden = !group.querySelector(".entry:not([hidden])");
    }
    const narrowed = words.length || kind !== "";
    count.textContent = narrowed ? `${shown} of ${entries.length} cards` : `${entries.length} cards`;
  }
  search.addEventListener("input", filter);
  lint.addEventListener("change", filter);

  // Math that MathJax left as text: an opening delimiter whose closing one it did not
  // accept (MathJax only closes math at brace level 0, so a missing brace does this).
  function untypeset(card) {
    const found = [];
    const walker = document.createTreeWalker(card, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) =>
        node.parentElement.closest("mjx-container, code, pre")
          ? NodeFilter.FILTER_REJECT
          : NodeFilter.FILTER_ACCEPT,
    });
    while (walker.nextNode()) {
      const text = walker.currentNode.data;
      const at = text.search(/\\[(\[]/);
      if (at >= 0) found.push("math not typeset: " + text.slice(at, at + 60));
    }
    return found;
  }

  function typeset() {
    const problems = new Map();
    const note = (entry, message) => {
      if (!problems.has(entry)) problems.set(entry, new Set());
      problems.get(entry).add(message);
    };
    for (const merror of document.querySelectorAll("mjx-merror")) {
      const message = merror.getAttribute("data-mjx-error") || merror.textContent;
      note(merror.closest(".entry"), "TeX error: " + message);
    }
    for (const card of document.querySelectorAll(".card")) {
      for (const message of untypeset(card)) note(card.closest(".entry"), message);
    }
    errorList.replaceChildren();
    for (const [entry, messages] of problems) {
      entry.classList.add("tex-error");
      const list = document.createElement("ul");
      list.className = "tex-messages tex2jax_ignore";
      for (const message of messages) {
        const item = document.createElement("li");
        item.textContent = message;
        list.append(item);
      }
      entry.append(list);
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#" + entry.id;
      link.textContent = `${entry.dataset.source}: ${Array.from(messages).join("; ")}`;
      item.append(link);
      errorList.append(item);
    }
    errorList.hidden = problems.size === 0;
    status.textContent = problems.size
      ? `${problems.size} cards with TeX errors`
      : "All math typeset by MathJax";
    status.classList.toggle("bad", problems.size > 0);
    document.documentElement.dataset.texErrors = String(problems.size);
    document.documentElement.dataset.typeset = "done";
  }

  window.buildDeckPreview = { typeset, setNight, filter };
})();
