"""The data center: the metadata store and the services over it.

Recipes, readiness of processing candidates, input dataset assembly, recipe
runs, scheduling onto resource pools, tickets for manual processing, and a
status view. Every service is a plain function over a SQLAlchemy session or a
:class:`~dkist_processing_core.datacenter.store.Store`; the CLI is a thin layer.
"""
