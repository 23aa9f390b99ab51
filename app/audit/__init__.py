"""The audit ledger: who was told what, why, and what was done, provably unaltered."""
