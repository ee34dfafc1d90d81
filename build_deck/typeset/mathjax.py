"""MathJax for TeX validation and the preview, wherever build-deck is installed.

MathJax 3 is the npm package ``mathjax-full``, pinned by ``package.json`` and
``package-lock.json`` (the repository's, and their copies ``build_deck/js/mathjax-*.json``
that an installed tool carries). ``ensure_mathjax`` finds it, in this order:

1. ``$BUILD_DECK_MATHJAX``, when set (nothing else is tried then);
2. ``node_modules/`` in the working directory, the tool's folder or one of their parents
   (``make`` installs it there with ``npm ci``);
3. the user's cache folder (``~/.cache/build-deck/mathjax-<lock hash>`` on Linux), where it
   is installed with ``npm ci`` the first time it is needed, when Node.js and npm are
   there. Without them, the reason comes back as one short sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

MATHJAX_ENV = "BUILD_DECK_MATHJAX"
"""Environment variable naming the ``mathjax-full`` folder, instead of the search."""

MATHJAX_PACKAGE = "mathjax-full"
"""The npm package that provides MathJax 3."""

JS_FOLDER = Path(__file__).resolve().parent.parent / "js"
NPM_FILES = {
    "package.json": JS_FOLDER / "mathjax-package.json",
    "package-lock.json": JS_FOLDER / "mathjax-package-lock.json",
}
"""The npm project that pins MathJax, as the tool carries it: name in the project -> file."""

INSTALL_TIMEOUT = 600
"""How long ``npm ci`` may take to install MathJax into the cache."""


def find_mathjax(start: Path | None = None) -> Path | None:
    """The ``mathjax-full`` folder: ``$BUILD_DECK_MATHJAX``, else ``node_modules/`` in the
    package's repository or one of its parents, else in the working directory or one of
    its parents. The package's own comes first: Node.js runs what it finds, and a notes
    repository someone else wrote may hold a ``node_modules/`` of its own."""
    override = os.environ.get(MATHJAX_ENV)
    candidates: Iterable[Path]
    if override:
        candidates = [Path(override)]
    else:
        here = (start or Path.cwd()).resolve()
        package = Path(__file__).resolve().parent.parent
        folders = dict.fromkeys([package, *package.parents, here, *here.parents])
        candidates = (folder / "node_modules" / MATHJAX_PACKAGE for folder in folders)
    for candidate in candidates:
        if _is_mathjax(candidate):
            return candidate.resolve()
    return None


def _is_mathjax(folder: Path) -> bool:
    return (folder / "es5" / "node-main.js").is_file()


def user_cache_home() -> Path:
    """The folder where programs keep caches for this user, as the platform names it."""
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def cache_folder() -> Path:
    """Where MathJax is installed for an installed tool: one folder per pinned lock file,
    so that a tool that pins another MathJax installs it beside the old one."""
    digest = hashlib.sha256(NPM_FILES["package-lock.json"].read_bytes()).hexdigest()
    return user_cache_home() / "build-deck" / f"mathjax-{digest[:12]}"


def ensure_mathjax(say: Callable[[str], None] | None = None) -> tuple[Path | None, str | None]:
    """The ``mathjax-full`` folder, installed into ``cache_folder()`` if it is nowhere yet;
    or None and why not (Node.js or npm missing, npm failed). ``say`` is told before a
    (slow, one-time) install starts."""
    found = find_mathjax()
    if found is not None:
        return found, None
    if os.environ.get(MATHJAX_ENV):
        where = os.environ[MATHJAX_ENV]
        return None, f"the npm package {MATHJAX_PACKAGE} is not in ${MATHJAX_ENV} ({where})"
    target = cache_folder()
    installed = target / "node_modules" / MATHJAX_PACKAGE
    if _is_mathjax(installed):
        return installed.resolve(), None
    if shutil.which("node") is None:
        return None, "Node.js not found"
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm not found, so the npm package {MATHJAX_PACKAGE} cannot be installed"
    if say is not None:
        say(f"installing MathJax (npm package {MATHJAX_PACKAGE}) into {target}, once")
    problem = _npm_install(npm, target)
    if problem is not None:
        return None, problem
    return (installed.resolve(), None) if _is_mathjax(installed) else (None, "npm left no MathJax")


def _npm_install(npm: str, target: Path) -> str | None:
    """``npm ci`` of the pinned project into a new folder, renamed to ``target`` when
    complete (a build cut short leaves no half-installed MathJax); None, or what failed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}.{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        for name, source in NPM_FILES.items():
            shutil.copy(source, scratch / name)
        command = [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"]
        try:
            done = subprocess.run(
                command,
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"npm could not install {MATHJAX_PACKAGE}: {exc}"
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            reason = lines[-1] if lines else f"exit code {done.returncode}"
            return f"npm could not install {MATHJAX_PACKAGE} ({reason})"
        with contextlib.suppress(OSError):  # another build may have installed it meanwhile
            scratch.rename(target)
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
