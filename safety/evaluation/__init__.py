"""Evaluation: pure metric functions (``metrics``, ``fairness``) and the held-out suite loader (``suites``)."""
