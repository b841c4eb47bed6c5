"""Training: the pydantic config (``config``), the Lightning data module and module, and the run (``run``)."""
