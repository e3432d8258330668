"""The runtime of a study: joining it (``session``), claiming and running its trials (``worker``, ``trial_runner``),
keeping them alive or failing the silent ones (``liveness``), N processes as one (``supervisor``, ``events``,
``progress``), signals (``interrupts``), closing it (``finish``, ``summary``) and exporting its winner (``export``).
Its modules are imported one by one: ``interrupts`` must load before the heavy stack, when the command line is
parsed."""
