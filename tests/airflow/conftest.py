"""Airflow tests run in the tox ``airflow`` environment; elsewhere they are skipped.

Airflow reads ``AIRFLOW_HOME`` when first imported. The tox environment sets it
(and migrates a fresh SQLite metadata database); run directly with Airflow
installed but no ``AIRFLOW_HOME``, the tests get a throwaway one here, so
they never touch a real deployment's database.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile

import pytest

_OWN_HOME = False
if importlib.util.find_spec("airflow") is not None and "AIRFLOW_HOME" not in os.environ:
    home = tempfile.mkdtemp(prefix="airflow-home-")
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=os.path.join(home, "dags"),
    )
    _OWN_HOME = True


@pytest.fixture(scope="session", autouse=True)
def airflow_metadata_db():
    if _OWN_HOME:
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
        )
