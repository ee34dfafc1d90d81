"""Verification: every checked value and formula on a card is recomputed, confined.

- :mod:`.checks`: which checks a card carries and what its ✓ covers;
- :mod:`.formula`: the reader of the TeX subset that formula checks compare;
- :mod:`.sandbox`: the confined workers that run the checks' code;
- :mod:`.mutate`: ``check --mutate``, which measures what the checks catch.
"""
