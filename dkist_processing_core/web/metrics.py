"""Prometheus metrics of the data center, read from the store at each scrape.

A custom collector (the official ``prometheus_client``) turns
:func:`~dkist_processing_core.datacenter.operations.views.operational_metrics`
into metric families; it keeps no state of its own, so several servers over
one store report the same numbers.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

from dkist_processing_core.datacenter.operations.views import operational_metrics


class DataCenterCollector:
    def __init__(self, config):
        self.config = config

    def collect(self):
        config = self.config
        now = config.clock.now()
        with config.store.session() as s:
            m = operational_metrics(s, now, outbox_folder=config.outbox_folder)
        runs = GaugeMetricFamily("dkist_recipe_runs", "Recipe runs by status.", labels=["status"])
        for status, n in m["runs_by_status"].items():
            runs.add_metric([status], n)
        yield runs
        durations = SummaryMetricFamily(
            "dkist_recipe_run_duration_seconds",
            "Durations of finished recipe runs (start to end), by final status.",
            labels=["status"],
        )
        for status, d in m["run_durations"].items():
            durations.add_metric([status], count_value=d["count"], sum_value=d["sum_s"])
        yield durations
        queue = GaugeMetricFamily(
            "dkist_run_queue_length", "Recipe runs waiting to start, by pool.", labels=["pool"]
        )
        slots = GaugeMetricFamily("dkist_pool_slots", "Slots of each pool.", labels=["pool"])
        in_use = GaugeMetricFamily(
            "dkist_pool_slots_in_use", "Runs running in each pool.", labels=["pool"]
        )
        for p in m["pools"]:
            queue.add_metric([p["pool"]], p["waiting"])
            slots.add_metric([p["pool"]], p["slots"])
            in_use.add_metric([p["pool"]], p["in_use"])
        yield queue
        yield slots
        yield in_use
        yield GaugeMetricFamily(
            "dkist_oldest_waiting_candidate_age_seconds",
            "Age of the oldest processing candidate still waiting for frames (0 if none).",
            value=m["oldest_waiting_candidate_age_s"] or 0.0,
        )
        tickets = GaugeMetricFamily("dkist_open_tickets", "Open tickets by kind.", labels=["kind"])
        for kind, n in m["open_tickets_by_kind"].items():
            tickets.add_metric([kind], n)
        yield tickets
        yield GaugeMetricFamily(
            "dkist_publish_failures_open",
            "Open tickets of runs whose publication failed.",
            value=m["publish_failures_open"],
        )
        yield GaugeMetricFamily(
            "dkist_mails_pending",
            "PI notices in the outbox not yet sent.",
            value=m["mails_pending"] or 0,
        )
        passes = SummaryMetricFamily(
            "dkist_readiness_pass_duration_seconds", "Durations of the readiness passes."
        )
        passes.add_metric(
            [], count_value=m["readiness_passes"], sum_value=m["readiness_pass_seconds_total"]
        )
        yield passes
        yield GaugeMetricFamily(
            "dkist_readiness_pass_last_duration_seconds",
            "How long the last readiness pass took (0 if none).",
            value=m["last_readiness_pass_duration_s"] or 0.0,
        )
        last = m["last_readiness_pass_at"]
        yield GaugeMetricFamily(
            "dkist_readiness_pass_last_timestamp_seconds",
            "When the last readiness pass started (Unix time; 0 if none).",
            value=datetime.fromisoformat(last).timestamp() if last else 0.0,
        )


def registry_for(config) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DataCenterCollector(config))
    return registry
