"""Verification, formula reader: the TeX it knows, as word lists.

Every command the reader accepts is named here: Greek letters, functions, accents,
text commands, relations, brackets, and the spacing and sizing commands it skips.
What is not named here, the reader refuses.
"""

from __future__ import annotations

GREEK = set(
    """alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa
    lambda mu nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta
    Lambda Xi Pi Sigma Phi Psi Omega ell""".split()
)
"""Greek letters (and ``\\ell``), read as names."""
FUNCTIONS = {
    "exp": 1,
    "log": 1,
    "ln": 1,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "tanh": 1,
    "sinh": 1,
    "cosh": 1,
    "arctan": 1,
    "max": 0,
    "min": 0,
    "softmax": 1,
    "ReLU": 1,
    "relu": 1,
    "det": 1,
}
"""Functions written ``\\name`` or ``\\operatorname{name}``; 0 for any number of arguments."""
SPACING = {",", ";", "!", " ", ":", "quad", "qquad", "displaystyle", "textstyle", "limits"}
"""Spacing and style commands, dropped by the scanner."""
SIZES = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr"}
"""Sizing commands, dropped by the scanner: ``\\left(`` is just ``(``."""
ACCENTS = {"hat": "hat", "bar": "bar", "tilde": "tilde", "overline": "bar", "widehat": "hat"}
"""Accents over a letter, and the suffix each gives its name (``\\hat y`` is ``yhat``)."""
TEXT = {"text", "mathrm", "operatorname", "mathit", "textrm", "mathbf", "boldsymbol", "bm"}
"""Commands whose braced word is read as one name (or a function)."""
RELATIONS = {"=": "=", "approx": "≈", "sim": "~", "simeq": "≈", "le": "≤", "leq": "≤",
             "ge": "≥", "geq": "≥", "lt": "<", "gt": ">", "ne": "≠", "neq": "≠",
             "to": "→", "propto": "∝", "equiv": "≡", "in": "∈", "mapsto": "→",
             "Rightarrow": "⇒", "iff": "⇔", "quad": " "}  # fmt: skip
"""Relations a chain is split at, and how a message writes each."""
OPEN = {"(": ")", "[": "]", "\\{": "\\}", "\\lceil": "\\rceil", "\\lfloor": "\\rfloor"}
"""Opening brackets and the bracket that closes each."""
