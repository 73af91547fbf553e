"""rlforecast: Bayesian forecasts of AI capability from RL-training and inference compute.

Data flow: ``data`` (raw files -> observations table) -> ``model`` (spec + observations -> PyMC model)
-> ``fit`` (sampling, diagnostics, DataTree on disk) -> ``scenarios`` (compute futures -> arrival dates)
-> ``export`` (tables, figures, provenance).
"""

__version__ = "0.1.0"
