"""Planning: what to process and how.

Recipes (workflow, version, default configuration, parameters), readiness of
processing candidates (transfer manifests against frame counts, the 13-day back
stop), input dataset assembly, and recipe runs with their "as run" plan.
"""
