"""Verification: every checked value and formula on a card is recomputed, confined.

- :mod:`.checks`: runs a build's checks and judges each card (what its ✓ covers), with
  its parts :mod:`.values` (a card's shown value read and compared), :mod:`.formula_check`
  (``# formula`` checks), :mod:`.arithmetic` (displayed arithmetic) and :mod:`.shown`
  (the pieces of a card a check can compare);
- :mod:`.formula`: the reader of the TeX subset that formula checks compare;
- :mod:`.sandbox`: the confined workers that run the checks' code;
- :mod:`.mutate`: ``check --mutate``, which measures what the checks catch.
"""
