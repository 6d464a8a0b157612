"""The compiler passes, one per module, run in order by :mod:`vaic.pipeline`:
frontend -> canonicalize -> partition -> schedule/memory plan -> tile -> codegen -> verify -> write."""
