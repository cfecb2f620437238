"""Operations: running planned work and keeping it visible.

Scheduling recipe runs by priority onto resource pools, tickets for manual
processing and their resolutions, the periodic pass (cron or an engine's
schedule), and the status view.
"""
