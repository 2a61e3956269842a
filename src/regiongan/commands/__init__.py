"""Method-specific CLI commands. Each module registers its commands on the `regiongan` group when imported."""
