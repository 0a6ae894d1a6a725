"""The engine: plans, the ledger, the step runner and the manager's commands."""
