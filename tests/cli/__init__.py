"""Tests of the ``dkist-processing`` command line itself."""
